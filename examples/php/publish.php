<?php
// Sends a notification to every connection of one user, on every gateway:
//
//   php publish.php 1 hello!
//
// With history on (the gateways' default) a JetStream stream stores the subject: the message is stored
// first and the stream's acknowledgement says so, "stored as seq 7 in stream HERALD". The publish
// carries a Nats-Msg-Id and is sent again until the stream acknowledges it, for up to 15 s: through a
// stream-leader election it is stored exactly once, never lost without an error. If no stream stores
// it (history off), it says so and publishes live instead. The message bytes are sent as they are:
// valid JSON arrives as JSON, anything else as a string.

declare(strict_types=1);

require __DIR__ . '/nats-client.php';
require __DIR__ . '/stored-publish.php';

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


try {
    // ANCHOR: publish
    $nats = NatsClient::connect($url);
    if (storingStream($nats, $subject) === null) {
        // Only connected clients get it; nothing is kept for the ones that reconnect later.
        $nats->publish($subject, $message);
        $nats->flush();
        fwrite(STDOUT, "no stream stores $subject (history off?): published live, not stored\n");
        exit(0);
    }
    // A stored publish is a request on the subject itself; the stream answers {"stream","seq"}. The
    // id is made once per run: the attempts of this run are stored once; another run is another message.
    $ack = publishStored($nats, $subject, $message, bin2hex(random_bytes(12)));
    $duplicate = !empty($ack['duplicate']) ? ' (duplicate)' : '';
    fwrite(STDOUT, "stored as seq {$ack['seq']} in stream {$ack['stream']}$duplicate\n");
    // ANCHOR_END: publish
    $nats->close();
} catch (Throwable $error) {
    fwrite(STDERR, 'publish.php: ' . $error->getMessage() . "\n");
    exit(1);
}
