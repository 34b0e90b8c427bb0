// Command publish sends a notification to every connection of one user, on every gateway:
//
//	./publish 1 hello!
//
// With history on (the gateways' default) a JetStream stream stores the subject: the message is
// stored first and the stream's acknowledgement says so, "stored as seq 7 in stream HERALD". If no
// stream stores it (history off), it says so and publishes live instead. The message bytes are sent
// as they are: valid JSON arrives as JSON, anything else as a string.
//
// Builds with Go 1.19 and nats.go 1.22 (Debian 12: golang-go, golang-github-nats-io-go-nats-dev).
package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/nats-io/nats.go"
)

// A user id becomes a NATS subject token: "1.*" or ">" would reach other users.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_\-:@=+]{1,128}$`)

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "publish: "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	if len(os.Args) != 3 {
		fail(2, "usage: publish <user> <message>")
	}
	user, message := os.Args[1], []byte(os.Args[2])
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
	subject := prefix + ".user." + user

	nc, err := nats.Connect(url, nats.Name("herald publish"))
	if err != nil {
		fail(1, "cannot connect to NATS at %s: %v", url, err)
	}
	defer nc.Close()

	// nats.go 1.22's JetStream API (nc.JetStream(); the newer jetstream package came with 1.28).
	js, err := nc.JetStream()
	if err != nil {
		fail(1, "%v", err)
	}
	// Which stream stores the subject? Asked first because with history off a gateway subscribes to
	// the subject itself: a stored publish would reach the clients but wait in vain for an ack.
	_, err = js.StreamNameBySubject(subject)
	switch {
	case errors.Is(err, nats.ErrNoMatchingStream), errors.Is(err, nats.ErrJetStreamNotEnabled):
		// Only connected clients get it; nothing is kept for the ones that reconnect later.
		if err := nc.Publish(subject, message); err != nil {
			fail(1, "%v", err)
		}
		if err := nc.Flush(); err != nil {
			fail(1, "%v", err)
		}
		fmt.Printf("no stream stores %s (history off?): published live, not stored\n", subject)
		return
	case err != nil:
		fail(1, "cannot ask JetStream which stream stores %s: %v", subject, err)
	}

	// A stored publish is a request on the subject itself; the stream answers with its ack.
	ack, err := js.Publish(subject, message) // add nats.MsgId("…") to make a retry idempotent
	if err != nil {
		fail(1, "the stream did not acknowledge it: %v", err)
	}
	duplicate := ""
	if ack.Duplicate {
		duplicate = " (duplicate)"
	}
	fmt.Printf("stored as seq %d in stream %s%s\n", ack.Sequence, ack.Stream, duplicate)
}
