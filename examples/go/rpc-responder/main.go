// Command rpc-responder answers the calls Herald clients make with client.rpc(method, data): a NATS
// request per call on <prefix>.rpc.<method>, the caller in the body.
//
//	NATS_URL=nats://127.0.0.1:4222 ./rpc-responder
//
// It subscribes to <prefix>.rpc.> (every method) in the queue group herald-rpc, so any number of
// copies share the calls, and keeps answering across NATS restarts. SIGTERM or Ctrl-C drains: it
// stops taking calls, answers the ones it already has, and exits.
//
// Builds with Go 1.19 and nats.go 1.22 (Debian 12: golang-go, golang-github-nats-io-go-nats-dev).
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

type rpcRequest struct {
	User       string `json:"user"` // who called, already authenticated by the gateway
	Connection string `json:"connection"`
	Gateway    string `json:"gateway"`
	Method     string `json:"method"`
	// Data is whatever JSON the page sent (null when none): check it like any input.
	Data json.RawMessage `json:"data"`
}

type rpcError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type rpcReply struct {
	OK    bool        `json:"ok"`
	Data  interface{} `json:"data,omitempty"`
	Error *rpcError   `json:"error,omitempty"`
}

type serverTime struct {
	Now  int64  `json:"now"` // ms since the epoch
	User string `json:"user"`
}

// ANCHOR: answer

// call answers one call.
func call(req rpcRequest) rpcReply {
	switch req.Method {
	case "time":
		return rpcReply{OK: true, Data: serverTime{Now: time.Now().UnixMilli(), User: req.User}}
	default:
		// The client's promise rejects with code REFUSED and reason unknown_method.
		return rpcReply{Error: &rpcError{Code: "unknown_method", Message: "no such method"}}
	}
}

func answer(m *nats.Msg) {
	var req rpcRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Method == "" || req.User == "" {
		// Not a call: the NATS service-error convention. The client gets BACKEND_ERROR.
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set("Nats-Service-Error", "invalid rpc request")
		reply.Header.Set("Nats-Service-Error-Code", "400")
		_ = m.RespondMsg(reply)
		return
	}
	body, _ := json.Marshal(call(req))
	if err := m.Respond(body); err != nil {
		log.Printf("cannot answer connection %s: %v", req.Connection, err)
	}
}
// ANCHOR_END: answer

func main() {
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	prefix := os.Getenv("HERALD_PREFIX")
	if prefix == "" {
		prefix = "herald"
	}
	subject, queue := prefix+".rpc.>", "herald-rpc"

	closed := make(chan struct{})
	nc, err := nats.Connect(url,
		nats.Name("herald rpc-responder"),
		nats.MaxReconnects(-1), // keep trying while NATS restarts
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	)
	if err != nil {
		log.Fatalf("cannot connect to NATS at %s: %v", url, err)
	}
	if _, err := nc.QueueSubscribe(subject, queue, answer); err != nil {
		log.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the subscription is in place once the server answered
		log.Fatal(err)
	}
	fmt.Printf("answering %s in queue group %s on %s\n", subject, queue, url)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	// Drain: unsubscribe, answer what has arrived, then close.
	if err := nc.Drain(); err != nil {
		log.Fatal(err)
	}
	<-closed
}
