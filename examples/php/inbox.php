<?php
// A user's unread count, and marks made by the backend (an email's "mark as read" link), asked of
// the gateways (run with --inbox true) over NATS request/reply:
//
//   php inbox.php unread 1 2              prints "1: 3 unread" and "2: 0 unread" (99+ above the cap)
//   php inbox.php mark 1 read 118 119     marks notifications 118 and 119 of user 1 read
//   php inbox.php mark-up-to 1 read 119   marks everything of user 1 up to 119 read ("mark all read")
//
// States: read, unread (with ids only), seen, archived. Every open page of the user, on every
// gateway, gets the new count at once. Exits 1 when no gateway answers (the inbox is off) or the
// gateway could not do it, 2 for a bad argument.

declare(strict_types=1);

require __DIR__ . '/nats-client.php';

$url = getenv('NATS_URL') ?: 'nats://127.0.0.1:4222';
$prefix = getenv('HERALD_PREFIX') ?: 'herald';

function usage(string $why): never
{
    fwrite(STDERR, "inbox.php: $why\nusage: php inbox.php unread <user>... | mark <user> <state> <id>... | mark-up-to <user> <state> <id>\n");
    exit(2);
}

/** A user id from the safe alphabet: it travels in JSON, and the gateway checks it again. */
function safeUser(string $user): string
{
    if (!preg_match('/\A[A-Za-z0-9_\-:@=+]{1,128}\z/', $user)) {
        usage('unsafe user id ' . json_encode(substr($user, 0, 64), JSON_INVALID_UTF8_SUBSTITUTE));
    }
    return $user;
}

/** A notification id: a whole number from 1. */
function notificationId(string $id): int
{
    if (!preg_match('/\A[1-9][0-9]{0,15}\z/', $id)) {
        usage('not a notification id: ' . json_encode(substr($id, 0, 32), JSON_INVALID_UTF8_SUBSTITUTE));
    }
    return (int) $id;
}

// ANCHOR: ask
/**
 * Asks one gateway with the inbox on (`<prefix>.inbox.unread`, `.mark`; queue group herald-inbox)
 * and returns its answer, or throws: no responders means no gateway runs with --inbox true.
 *
 * @return array<string, mixed>
 */
function ask(NatsClient $nats, string $subject, array $request): array
{
    $reply = $nats->request($subject, json_encode($request), 5.0);
    if ($reply === null) {
        throw new RuntimeException("no answer on $subject within 5 s");
    }
    if ($reply->status === 503) {
        throw new RuntimeException("no gateway answers $subject: run the gateways with --inbox true");
    }
    $answer = json_decode($reply->payload, true);
    if (!is_array($answer) || ($answer['ok'] ?? null) !== true) {
        $why = substr((string) ($answer['error']['message'] ?? 'not an answer'), 0, 64);
        throw new RuntimeException("$subject: $why");
    }
    return $answer;
}
// ANCHOR_END: ask

$command = $argv[1] ?? '';
$states = ['read', 'unread', 'seen', 'archived'];
try {
    if ($command === 'unread' && $argc >= 3) {
        $users = array_map('safeUser', array_slice($argv, 2));
        // ANCHOR: unread
        $nats = NatsClient::connect($url);
        $answer = ask($nats, "$prefix.inbox.unread", ['users' => $users]);
        foreach ($users as $user) {
            $capped = in_array($user, $answer['capped'], true) ? '+' : '';
            fwrite(STDOUT, "$user: {$answer['unread'][$user]}$capped unread\n");
        }
        // ANCHOR_END: unread
    } elseif (($command === 'mark' && $argc >= 5) || ($command === 'mark-up-to' && $argc === 5)) {
        $user = safeUser($argv[2]);
        $state = in_array($argv[3], $states, true) ? $argv[3] : usage("unknown state {$argv[3]}");
        $ids = array_map('notificationId', array_slice($argv, 4));
        // ANCHOR: mark
        // Ids (at most 100), or everything up to an id; the gateway drops ids that are not the user's.
        $request = $command === 'mark'
            ? ['user' => $user, 'state' => $state, 'ids' => $ids]
            : ['user' => $user, 'state' => $state, 'upTo' => $ids[0]];
        $nats = NatsClient::connect($url);
        ask($nats, "$prefix.inbox.mark", $request);
        fwrite(STDOUT, "marked $state\n");
        // ANCHOR_END: mark
    } else {
        usage('unknown command or missing arguments');
    }
    $nats->close();
} catch (Throwable $error) {
    fwrite(STDERR, 'inbox.php: ' . $error->getMessage() . "\n");
    exit(1);
}
