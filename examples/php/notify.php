<?php
// Stores a notification in one user's inbox (gateways run with --inbox true):
//
//   php notify.php 1 "Your order shipped"
//   php notify.php 1 '{"order":42,"status":"shipped"}' order-42-shipped
//
// Every open page of the user, on every gateway, gets it at once; it stays in the user's inbox with
// its read, seen and archived state. The publish is the acknowledged one publish.php makes, on
// <prefix>.notify.<user>: the stream's acknowledgement is stored as "stored as notification 118",
// 118 being the notification's id. The optional third argument is your idempotency key (the
// Nats-Msg-Id): the same key within 2 minutes stores it once, "(duplicate)". Exits 1 when no
// gateway has made the inbox stream (the inbox is off), or the stream did not acknowledge in time.

declare(strict_types=1);

require __DIR__ . '/nats-client.php';
require __DIR__ . '/stored-publish.php';

$url = getenv('NATS_URL') ?: 'nats://127.0.0.1:4222';
$prefix = getenv('HERALD_PREFIX') ?: 'herald';

if ($argc !== 3 && $argc !== 4) {
    fwrite(STDERR, "usage: php notify.php <user> <message> [idempotency key]\n");
    exit(2);
}
$user = $argv[1];
$message = $argv[2];
$key = $argv[3] ?? bin2hex(random_bytes(12));

// The user id becomes a subject token: "1.*" or ">" would reach other users. Whole-string match.
if (!preg_match('/\A[A-Za-z0-9_\-:@=+]{1,128}\z/', $user)) {
    $shown = json_encode(substr($user, 0, 64), JSON_INVALID_UTF8_SUBSTITUTE);
    fwrite(STDERR, "notify.php: unsafe user id $shown: use 1 to 128 of A-Z a-z 0-9 _ - : @ = +\n");
    exit(2);
}

try {
    // ANCHOR: notify
    $nats = NatsClient::connect($url);
    $subject = "$prefix.notify.$user";
    if (storingStream($nats, $subject) === null) {
        fwrite(STDERR, "notify.php: no stream stores $subject: run the gateways with --inbox true\n");
        exit(1);
    }
    // The stream's sequence is the notification's id; the key makes a retried notify one notification.
    $ack = publishStored($nats, $subject, $message, $key);
    $duplicate = !empty($ack['duplicate']) ? ' (duplicate)' : '';
    fwrite(STDOUT, "stored as notification {$ack['seq']}$duplicate\n");
    // ANCHOR_END: notify
    $nats->close();
} catch (Throwable $error) {
    fwrite(STDERR, 'notify.php: ' . $error->getMessage() . "\n");
    exit(1);
}
