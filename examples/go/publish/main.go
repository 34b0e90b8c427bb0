// Command publish sends a notification to every connection of one user, on every gateway:
//
//	./publish 1 hello!
//
// With history on (the gateways' default) a JetStream stream stores the subject: the message is
// stored first and the stream's acknowledgement says so, "stored as seq 7 in stream HERALD". The
// publish carries a Nats-Msg-Id and is sent again until the stream acknowledges it, for up to 15 s:
// through a stream-leader election it is stored exactly once, never lost without an error. If no
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
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// A user id becomes a NATS subject token: "1.*" or ">" would reach other users.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_\-:@=+]{1,128}$`)

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "publish: "+format+"\n", args...)
	os.Exit(code)
}

// ANCHOR: publish-stored

// publishStored stores data on subject exactly once, or returns an error after the deadline: every
// attempt carries the same Nats-Msg-Id, and the stream stores a repeated id once.
func publishStored(js nats.JetStreamContext, subject string, data []byte, msgID string) (*nats.PubAck, error) {
	deadline := time.Now().Add(15 * time.Second)
	delay := 50 * time.Millisecond
	for {
		ack, err := js.Publish(subject, data, nats.MsgId(msgID), nats.AckWait(2*time.Second))
		if err == nil {
			return ack, nil
		}
		// No responders (the stream is electing a leader), no answer in time, or a reconnect:
		// try again. A JetStream error other than 503 is final.
		var apiErr *nats.APIError
		if errors.As(err, &apiErr) && apiErr.Code != 503 {
			return nil, err
		}
		if time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("%s not stored within 15 s; publishing again with the same id is safe: %w", subject, err)
		}
		time.Sleep(delay)
		if delay *= 2; delay > 500*time.Millisecond {
			delay = 500 * time.Millisecond
		}
	}
}
// ANCHOR_END: publish-stored

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

	nc, err := nats.Connect(url, nats.Name("herald publish"), nats.MaxReconnects(-1))
	if err != nil {
		fail(1, "cannot connect to NATS at %s: %v", url, err)
	}
	defer nc.Close()

	// ANCHOR: publish

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

	// A stored publish is a request on the subject itself; the stream answers with its ack. The id is
	// made once per run: the attempts of this run are stored once; another run is another message.
	ack, err := publishStored(js, subject, message, nuid.Next())
	if err != nil {
		fail(1, "the stream did not acknowledge it: %v", err)
	}
	duplicate := ""
	if ack.Duplicate {
		duplicate = " (duplicate)"
	}
	fmt.Printf("stored as seq %d in stream %s%s\n", ack.Sequence, ack.Stream, duplicate)
	// ANCHOR_END: publish
}
