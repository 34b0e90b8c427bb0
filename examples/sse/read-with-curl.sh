#!/usr/bin/env bash
# Reads a user's notifications from a Herald gateway with curl alone, over server-sent events.
# GATEWAY: the gateway's base URL (the WebSocket URL with https://); TOKEN: a token from your app.
# Prints every frame (ready, message, ...) on a line of its own and answers the gateway's pings.
set -euo pipefail
: "${GATEWAY:?e.g. https://notify.example.com/ws}" "${TOKEN:?a token your backend accepts}"

# 1. POST the auth frame (the token stays out of every URL): a one-time ticket, good for seconds.
TICKET=$(printf '{"type":"auth","token":"%s"}' "$TOKEN" |
  curl -sf -X POST "$GATEWAY/sse" -H 'content-type: text/plain' --data-binary @- |
  sed -E 's/.*"ticket":"([^"]+)".*/\1/')

# 2. GET the stream with the ticket. Frames come as `data:` lines; `event: session` names the
#    stream for POSTs to $GATEWAY/send; a `ping` must be answered with a `pong` within the
#    gateway's heartbeat timeout (60 s by default), or the gateway ends the stream.
curl -sN "$GATEWAY/sse?ticket=$TICKET" | while IFS= read -r line; do
  case "$line" in
    "event: session") IFS= read -r data && STREAM=${data#data: } ;;
    'data: {"type":"ping"}')
      printf '%s\n{"type":"pong"}' "$STREAM" |
        curl -sf -o /dev/null -X POST "$GATEWAY/send" -H 'content-type: text/plain' --data-binary @- ;;
    "event: close") IFS= read -r data && echo "closed: ${data#data: }" >&2 ;;
    "data: "*) echo "${line#data: }" ;;
  esac
done
