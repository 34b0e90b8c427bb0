// Command auth-responder answers the Herald gateways' requests: "who is this token?" (auth) and
// "may this user have this channel?" (subscribe).
//
//	NATS_URL=nats://127.0.0.1:4222 ./auth-responder
//
// It subscribes to <prefix>.auth in the queue group herald-auth and to <prefix>.subscribe in the
// queue group herald-subscribe, so any number of copies share the requests, and keeps answering
// across NATS restarts. SIGTERM or Ctrl-C drains: it stops taking requests, answers the ones it
// already has, and exits.
//
// Builds with Go 1.19 and nats.go 1.22 (Debian 12: golang-go, golang-github-nats-io-go-nats-dev).
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
)

// A user id becomes a NATS subject token; RE2's $ is the end of the text.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_\-:@=+]{1,128}$`)

type authRequest struct {
	Kind          string            `json:"kind"` // "connect" or "refresh"
	Token         string            `json:"token"`
	Connection    string            `json:"connection"`
	Gateway       string            `json:"gateway"`
	RemoteAddress string            `json:"remoteAddress"`
	Headers       map[string]string `json:"headers"`
	User          string            `json:"user,omitempty"` // on refresh: the connection's user
}

// ANCHOR: decide
type authError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Temporary: "cannot decide now" (the token store is down); the client retries later.
	Temporary bool `json:"temporary,omitempty"`
}

type authReply struct {
	OK       bool     `json:"ok"`
	User     string   `json:"user,omitempty"`
	Channels []string `json:"channels,omitempty"` // a nil slice sent as null is accepted as none
	// ExpiresAt is in milliseconds since the epoch: time.Now().Add(time.Hour).UnixMilli().
	ExpiresAt int64      `json:"expiresAt,omitempty"`
	Error     *authError `json:"error,omitempty"`
}

// demoTokens stands for your session store or JWT check.
var demoTokens = map[string]string{"tok-1": "1"}

func refusal(code, message string) authReply {
	return authReply{Error: &authError{Code: code, Message: message}}
}

// decide answers one auth request.
func decide(req authRequest) authReply {
	user, known := demoTokens[req.Token]
	switch {
	case !known:
		return refusal("invalid_token", "unknown or expired token")
	case !safeName.MatchString(user):
		return refusal("invalid_user", "this account cannot receive notifications")
	case req.Kind == "refresh" && user != req.User:
		return refusal("user_changed", "the new token belongs to another user")
	}
	return authReply{OK: true, User: user}
}
// ANCHOR_END: decide

func answer(m *nats.Msg) {
	var req authRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Token == "" {
		// Not a decision about a token: the NATS service-error convention. The client retries later.
		serviceError(m, "auth")
		return
	}
	body, _ := json.Marshal(decide(req))
	if err := m.Respond(body); err != nil {
		log.Printf("cannot answer connection %s: %v", req.Connection, err)
	}
}

// demoRooms and who may join each stand for your own membership rules.
var demoRooms = map[string][]string{"lobby": {"1"}}

type subscribeRequest struct {
	User       string `json:"user"`
	Connection string `json:"connection"`
	Gateway    string `json:"gateway"`
	Channel    string `json:"channel"` // channel.<name>, the name always from the safe alphabet
}

type subscribeReply struct {
	OK bool `json:"ok"`
	// ExpiresAt, when set, is when the gateway takes the channel away again (ms since the epoch).
	ExpiresAt int64      `json:"expiresAt,omitempty"`
	Error     *authError `json:"error,omitempty"`
}

// mayJoin tells whether a user may receive a room: the part of channel.<name> after the dot.
func mayJoin(user, room string) bool {
	for _, member := range demoRooms[room] {
		if member == user {
			return true
		}
	}
	return false
}

// ANCHOR: subscribe
// decideSubscribe answers one subscribe request.
func decideSubscribe(req subscribeRequest) subscribeReply {
	if !mayJoin(req.User, strings.TrimPrefix(req.Channel, "channel.")) {
		return subscribeReply{Error: &authError{Code: "forbidden", Message: "not a member of this room"}}
	}
	return subscribeReply{OK: true}
}

// serviceError answers a request that is not what the gateway sends: the NATS service-error
// convention, after which the client retries later.
func serviceError(m *nats.Msg, what string) {
	reply := nats.NewMsg(m.Reply)
	reply.Header.Set("Nats-Service-Error", "invalid "+what+" request")
	reply.Header.Set("Nats-Service-Error-Code", "400")
	_ = m.RespondMsg(reply)
}

func answerSubscribe(m *nats.Msg) {
	var req subscribeRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.User == "" || !strings.HasPrefix(req.Channel, "channel.") {
		serviceError(m, "subscribe")
		return
	}
	body, _ := json.Marshal(decideSubscribe(req))
	if err := m.Respond(body); err != nil {
		log.Printf("cannot answer connection %s: %v", req.Connection, err)
	}
}
// ANCHOR_END: subscribe

func main() {
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	prefix := os.Getenv("HERALD_PREFIX")
	if prefix == "" {
		prefix = "herald"
	}
	subject, queue := prefix+".auth", "herald-auth"

	// ANCHOR: serve
	closed := make(chan struct{})
	nc, err := nats.Connect(url,
		nats.Name("herald auth-responder"),
		nats.MaxReconnects(-1), // keep trying while NATS restarts
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	)
	if err != nil {
		log.Fatalf("cannot connect to NATS at %s: %v", url, err)
	}
	if _, err := nc.QueueSubscribe(subject, queue, answer); err != nil {
		log.Fatal(err)
	}
	if _, err := nc.QueueSubscribe(prefix+".subscribe", "herald-subscribe", answerSubscribe); err != nil {
		log.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the subscriptions are in place once the server answered
		log.Fatal(err)
	}
	fmt.Printf("answering %s.subscribe in queue group herald-subscribe on %s\n", prefix, url)
	fmt.Printf("answering %s in queue group %s on %s\n", subject, queue, url)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	// Drain: unsubscribe, answer what has arrived, then close. Deferred calls would not run after
	// a signal, so it happens here.
	if err := nc.Drain(); err != nil {
		log.Fatal(err)
	}
	<-closed
	// ANCHOR_END: serve
}
