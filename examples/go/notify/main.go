// Command notify stores a notification in one user's inbox (gateways run with --inbox true):
//
//	./notify 1 "Your order shipped"
//	./notify 1 '{"order":42,"status":"shipped"}' order-42-shipped
//
// Every open page of the user, on every gateway, gets it at once; it stays in the user's inbox with
// its read, seen and archived state. The publish is an acknowledged JetStream publish on
// <prefix>.notify.<user>, retried through a stream-leader election: "stored as notification 118",
// 118 being the notification's id. The optional third argument is your idempotency key (the
// Nats-Msg-Id): the same key within 2 minutes stores it once, "(duplicate)". Exits 1 when no gateway
// has made the inbox stream (the inbox is off), or the stream did not acknowledge in time.
//
// Builds with Go 1.19 and nats.go 1.22 (Debian 12: golang-go, golang-github-nats-io-go-nats-dev).
package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// A user id becomes a NATS subject token: "1.*" or ">" would reach other users.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_\-:@=+]{1,128}$`)

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "notify: "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fail(2, "usage: notify <user> <message> [idempotency key]")
	}
	user, message, key := os.Args[1], []byte(os.Args[2]), nuid.Next()
	if len(os.Args) == 4 {
		key = os.Args[3]
	}
	if !safeName.MatchString(user) {
		shown := user
		if len(shown) > 64 {
			shown = shown[:64]
		}
		fail(2, "unsafe user id %q: use 1 to 128 of A-Z a-z 0-9 _ - : @ = +", shown)
	}
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	prefix := os.Getenv("HERALD_PREFIX")
	if prefix == "" {
		prefix = "herald"
	}

	nc, err := nats.Connect(url, nats.Name("herald notify"), nats.MaxReconnects(-1))
	if err != nil {
		fail(1, "cannot connect to NATS at %s: %v", url, err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		fail(1, "%v", err)
	}

	// ANCHOR: notify
	subject := prefix + ".notify." + user
	if _, err := js.StreamNameBySubject(subject); err != nil {
		fail(1, "no stream stores %s (run the gateways with --inbox true): %v", subject, err)
	}
	// The stream's sequence is the notification's id; the key makes a retried notify one notification.
	deadline := time.Now().Add(15 * time.Second)
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		ack, err := js.Publish(subject, message, nats.MsgId(key), nats.AckWait(2*time.Second))
		if err == nil {
			duplicate := ""
			if ack.Duplicate {
				duplicate = " (duplicate)"
			}
			fmt.Printf("stored as notification %d%s\n", ack.Sequence, duplicate)
			return
		}
		// No responders (an election), no answer in time, a reconnect: again. Other JetStream errors are final.
		var apiErr *nats.APIError
		if errors.As(err, &apiErr) && apiErr.Code != 503 || time.Now().Add(delay).After(deadline) {
			fail(1, "%s not stored (sending again with the same key is safe): %v", subject, err)
		}
		time.Sleep(delay)
	}
	// ANCHOR_END: notify
}

func min(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}
