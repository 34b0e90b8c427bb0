// Command inbox asks the gateways (run with --inbox true) for users' unread counts, and marks
// notifications as the backend (an email's "mark as read" link), over NATS request/reply:
//
//	./inbox unread 1 2              prints "1: 3 unread" and "2: 0 unread" (99+ above the cap)
//	./inbox mark 1 read 118 119     marks notifications 118 and 119 of user 1 read
//	./inbox mark-up-to 1 read 119   marks everything of user 1 up to 119 read ("mark all read")
//
// States: read, unread (with ids only), seen, archived. Every open page of the user, on every
// gateway, gets the new count at once. Exits 1 when no gateway answers (the inbox is off) or the
// gateway could not do it, 2 for a bad argument.
//
// Builds with Go 1.19 and nats.go 1.22 (Debian 12: golang-go, golang-github-nats-io-go-nats-dev).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

var safeName = regexp.MustCompile(`^[A-Za-z0-9_\-:@=+]{1,128}$`)

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "inbox: "+format+"\n", args...)
	os.Exit(code)
}

func usage(why string) {
	fail(2, "%s\nusage: inbox unread <user>... | mark <user> <state> <id>... | mark-up-to <user> <state> <id>", why)
}

func safeUser(user string) string {
	if !safeName.MatchString(user) {
		if len(user) > 64 {
			user = user[:64]
		}
		usage(fmt.Sprintf("unsafe user id %q", user))
	}
	return user
}

// ANCHOR: ask

// answer is what a gateway replies on <prefix>.inbox.unread and <prefix>.inbox.mark.
type answer struct {
	OK     bool           `json:"ok"`
	Unread map[string]int `json:"unread"`
	Capped []string       `json:"capped"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ask sends a request to one gateway with the inbox on (queue group herald-inbox); no responders
// means no gateway runs with --inbox true.
func ask(nc *nats.Conn, subject string, request any) (*answer, error) {
	body, err := json.Marshal(request)
	if err != nil {
		return nil, err
	}
	msg, err := nc.Request(subject, body, 5*time.Second)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("no gateway answers %s: run the gateways with --inbox true", subject)
	}
	if err != nil {
		return nil, err
	}
	var reply answer
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return nil, fmt.Errorf("%s: not an answer: %w", subject, err)
	}
	if !reply.OK {
		if reply.Error == nil {
			return nil, fmt.Errorf("%s: refused", subject)
		}
		return nil, fmt.Errorf("%s: %s", subject, reply.Error.Message)
	}
	return &reply, nil
}

// ANCHOR_END: ask

func main() {
	if len(os.Args) < 3 {
		usage("missing arguments")
	}
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	prefix := os.Getenv("HERALD_PREFIX")
	if prefix == "" {
		prefix = "herald"
	}
	command, args := os.Args[1], os.Args[2:]
	var ids []int64
	if command == "mark" || command == "mark-up-to" {
		if len(args) < 3 || command == "mark-up-to" && len(args) != 3 {
			usage("missing arguments")
		}
		switch args[1] {
		case "read", "unread", "seen", "archived":
		default:
			usage(fmt.Sprintf("unknown state %q", args[1]))
		}
		for _, id := range args[2:] {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil || n < 1 || n > 1<<53-1 {
				usage(fmt.Sprintf("not a notification id: %q", id))
			}
			ids = append(ids, n)
		}
	} else if command != "unread" {
		usage(fmt.Sprintf("unknown command %q", command))
	}

	nc, err := nats.Connect(url, nats.Name("herald inbox"))
	if err != nil {
		fail(1, "cannot connect to NATS at %s: %v", url, err)
	}
	defer nc.Close()

	switch command {
	case "unread":
		users := make([]string, len(args))
		for i, user := range args {
			users[i] = safeUser(user)
		}
		// ANCHOR: unread
		reply, err := ask(nc, prefix+".inbox.unread", map[string]any{"users": users})
		if err != nil {
			fail(1, "%v", err)
		}
		capped := map[string]bool{}
		for _, user := range reply.Capped {
			capped[user] = true
		}
		for _, user := range users {
			plus := ""
			if capped[user] {
				plus = "+"
			}
			fmt.Printf("%s: %d%s unread\n", user, reply.Unread[user], plus)
		}
		// ANCHOR_END: unread
	default:
		user, state := safeUser(args[0]), args[1]
		// ANCHOR: mark
		// Ids (at most 100), or everything up to an id; the gateway drops ids that are not the user's.
		request := map[string]any{"user": user, "state": state, "ids": ids}
		if command == "mark-up-to" {
			request = map[string]any{"user": user, "state": state, "upTo": ids[0]}
		}
		if _, err := ask(nc, prefix+".inbox.mark", request); err != nil {
			fail(1, "%v", err)
		}
		fmt.Printf("marked %s\n", state)
		// ANCHOR_END: mark
	}
}
