<?php
// The acknowledged JetStream publish that publish.php and notify.php share: stored exactly once,
// or an error; and the question that comes before it, whether any stream stores the subject.

declare(strict_types=1);

/**
 * The name of the JetStream stream that stores `subject`, or null if none does. Asked first because
 * with history off a gateway subscribes to the subject itself: a stored publish would then reach
 * the clients but wait in vain for an acknowledgement.
 */
function storingStream(NatsClient $nats, string $subject): ?string
{
    $reply = $nats->request('$JS.API.STREAM.NAMES', json_encode(['subject' => $subject]), 5.0);
    if ($reply === null) {
        throw new RuntimeException('JetStream did not answer within 5 s');
    }
    if ($reply->status === 503) {
        return null; // no responders: JetStream is not enabled on this server
    }
    $names = json_decode($reply->payload, true);
    return is_array($names) && is_array($names['streams'] ?? null) ? ($names['streams'][0] ?? null) : null;
}

// ANCHOR: publish-stored
/**
 * Stores `message` on `subject` exactly once, or throws after `deadline` seconds: every attempt
 * carries the same Nats-Msg-Id, and the stream stores a repeated id once. No answer, or a 503 (no
 * responders: the stream is electing a leader), is tried again with backoff; any other error is final.
 *
 * @return array{stream: string, seq: int, duplicate?: bool}
 */
function publishStored(NatsClient $nats, string $subject, string $message, string $msgId, float $deadline = 15.0): array
{
    $giveUp = microtime(true) + $deadline;
    $delay = 0.05;
    while (true) {
        $wait = min(2.0, max(0.1, $giveUp - microtime(true)));
        $reply = $nats->request($subject, $message, $wait, ['Nats-Msg-Id' => $msgId]);
        if ($reply !== null && $reply->status === null) {
            $ack = json_decode($reply->payload, true);
            if (is_array($ack) && isset($ack['seq'])) {
                return $ack;
            }
            if (($ack['error']['code'] ?? 0) !== 503) {
                $why = substr((string) ($ack['error']['description'] ?? 'no ack'), 0, 64);
                throw new RuntimeException("the stream did not store it: $why");
            }
        }
        if (microtime(true) + $delay >= $giveUp) {
            throw new RuntimeException("$subject not stored within {$deadline} s; publishing again with the same id is safe");
        }
        usleep((int) ($delay * 1e6));
        $delay = min($delay * 2, 0.5);
    }
}
// ANCHOR_END: publish-stored
