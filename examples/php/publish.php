<?php
// Sends a notification to every connection of one user, on every gateway:
//
//   php publish.php 1 hello!
//
// With history on (the gateways' default) a JetStream stream stores the subject: the message is stored
// first and the stream's acknowledgement says so, "stored as seq 7 in stream HERALD". If no stream
// stores it (history off), it says so and publishes live instead. The message bytes are sent as they
// are: valid JSON arrives as JSON, anything else as a string.

declare(strict_types=1);

require __DIR__ . '/nats-client.php';

$url = getenv('NATS_URL') ?: 'nats://127.0.0.1:4222';
$prefix = getenv('HERALD_PREFIX') ?: 'herald';

if ($argc !== 3) {
    fwrite(STDERR, "usage: php publish.php <user> <message>\n");
    exit(2);
}
[, $user, $message] = $argv;

// The user id becomes a subject token: "1.*" or ">" would reach other users. Whole-string match.
if (!preg_match('/\A[A-Za-z0-9_\-:@=+]{1,128}\z/', $user)) {
    $shown = json_encode(substr($user, 0, 64), JSON_INVALID_UTF8_SUBSTITUTE);
    fwrite(STDERR, "publish.php: unsafe user id $shown: use 1 to 128 of A-Z a-z 0-9 _ - : @ = +\n");
    exit(2);
}
$subject = "$prefix.user.$user";

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

try {
    $nats = NatsClient::connect($url);
    if (storingStream($nats, $subject) === null) {
        // Only connected clients get it; nothing is kept for the ones that reconnect later.
        $nats->publish($subject, $message);
        $nats->flush();
        fwrite(STDOUT, "no stream stores $subject (history off?): published live, not stored\n");
        exit(0);
    }
    // A stored publish is a request on the subject itself; the stream answers {"stream","seq"}.
    $reply = $nats->request($subject, $message, 5.0);
    if ($reply === null) {
        fwrite(STDERR, "publish.php: no acknowledgement within 5 s: the message may or may not be stored\n");
        exit(1);
    }
    $ack = json_decode($reply->payload, true);
    if ($reply->status !== null || !is_array($ack) || isset($ack['error']) || !isset($ack['seq'])) {
        $why = $ack['error']['description'] ?? ($reply->status === 503 ? 'no stream answered' : 'no ack');
        fwrite(STDERR, 'publish.php: the stream did not store it: ' . substr((string) $why, 0, 64) . "\n");
        exit(1);
    }
    $duplicate = !empty($ack['duplicate']) ? ' (duplicate)' : '';
    fwrite(STDOUT, "stored as seq {$ack['seq']} in stream {$ack['stream']}$duplicate\n");
    $nats->close();
} catch (Throwable $error) {
    fwrite(STDERR, 'publish.php: ' . $error->getMessage() . "\n");
    exit(1);
}
