<?php
// Answers the Herald gateways' requests: "who is this token?" (auth) and "may this user have this
// channel?" (subscribe).
//
//   NATS_URL=nats://127.0.0.1:4222 php auth-responder.php
//
// Long-running. Subscribes to <prefix>.auth in the queue group herald-auth and to <prefix>.subscribe
// in the queue group herald-subscribe, so any number of copies share the requests. Exits non-zero if
// NATS goes away: run it under a supervisor (systemd, Kubernetes) that restarts it. SIGTERM or
// Ctrl-C stops it after answering what it already received.

declare(strict_types=1);

require __DIR__ . '/nats-client.php';

$url = getenv('NATS_URL') ?: 'nats://127.0.0.1:4222';
$prefix = getenv('HERALD_PREFIX') ?: 'herald';
$queue = 'herald-auth';
$subscribeQueue = 'herald-subscribe';

/** The demo's token table; replace lookup() with your session store or JWT check. */
const DEMO_TOKENS = ['tok-1' => '1'];

/** The demo's rooms and who may join each; replace mayJoin() with your own membership check. */
const DEMO_ROOMS = ['lobby' => ['1']];

/** The user a token belongs to, or null for an unknown token. */
function lookup(string $token): ?string
{
    return DEMO_TOKENS[$token] ?? null;
}

function refusal(string $code, string $message): array
{
    return ['ok' => false, 'error' => ['code' => $code, 'message' => $message]];
}

/** Whether a user may receive a room: the part of `channel.<name>` after the dot. */
function mayJoin(string $user, string $room): bool
{
    return in_array($user, DEMO_ROOMS[$room] ?? [], true);
}

// ANCHOR: subscribe
/**
 * The answer to one subscribe request (decoded JSON): a client of `user` subscribes to `channel`.
 * Granted: optionally with expiresAt in milliseconds, when the gateway takes the channel away again.
 */
function decideSubscribe(array $request): array
{
    // The gateway only asks about channel.<name> with a name from the safe alphabet.
    $room = substr($request['channel'], strlen('channel.'));
    if (!mayJoin($request['user'], $room)) {
        return refusal('forbidden', 'not a member of this room');
    }
    return ['ok' => true];
}

/** A request that is not what the gateway sends: the NATS service-error convention (the client retries). */
function serviceError(NatsClient $nats, NatsMessage $msg, string $what): void
{
    $nats->publish($msg->replyTo, '', null, [
        'Nats-Service-Error' => "invalid $what request",
        'Nats-Service-Error-Code' => '400',
    ]);
}

function answerSubscribe(NatsClient $nats, NatsMessage $msg): void
{
    if ($msg->replyTo === null) {
        return; // not a request: nowhere to answer
    }
    $request = json_decode($msg->payload, true);
    if (!is_array($request) || !is_string($request['user'] ?? null) || !is_string($request['channel'] ?? null)
        || !str_starts_with($request['channel'], 'channel.')) {
        serviceError($nats, $msg, 'subscribe');
        return;
    }
    $nats->publish($msg->replyTo, json_encode(decideSubscribe($request), JSON_THROW_ON_ERROR));
}
// ANCHOR_END: subscribe

// ANCHOR: decide
/**
 * The answer to one auth request (decoded JSON). Accepted: the user and, optionally, shared
 * channels and expiresAt in milliseconds. Refused: a code and message the client will see.
 */
function decide(array $request): array
{
    $user = lookup($request['token']);
    if ($user === null) {
        return refusal('invalid_token', 'unknown or expired token');
    }
    // A user id becomes a NATS subject token: whole-string match on the safe alphabet (\z, not $).
    if (!preg_match('/\A[A-Za-z0-9_\-:@=+]{1,128}\z/', $user)) {
        return refusal('invalid_user', 'this account cannot receive notifications');
    }
    // On refresh, the new token must belong to the user the connection already has.
    if ($request['kind'] === 'refresh' && ($request['user'] ?? null) !== $user) {
        return refusal('user_changed', 'the new token belongs to another user');
    }
    return ['ok' => true, 'user' => $user];
}

function answer(NatsClient $nats, NatsMessage $msg): void
{
    if ($msg->replyTo === null) {
        return; // not a request: nowhere to answer
    }
    $request = json_decode($msg->payload, true);
    if (!is_array($request) || !is_string($request['token'] ?? null) || !is_string($request['kind'] ?? null)) {
        // Not a decision about a token: the NATS service-error convention. The client retries later.
        serviceError($nats, $msg, 'auth');
        return;
    }
    $nats->publish($msg->replyTo, json_encode(decide($request), JSON_THROW_ON_ERROR));
}
// ANCHOR_END: decide

$stopping = false;
if (function_exists('pcntl_async_signals')) {
    pcntl_async_signals(true);
    pcntl_signal(SIGTERM, function () use (&$stopping) { $stopping = true; }, false);
    pcntl_signal(SIGINT, function () use (&$stopping) { $stopping = true; }, false);
}

try {
    // ANCHOR: serve
    $nats = NatsClient::connect($url);
    $sid = $nats->subscribe("$prefix.auth", $queue, fn (NatsMessage $msg) => answer($nats, $msg));
    $subscribeSid = $nats->subscribe(
        "$prefix.subscribe",
        $subscribeQueue,
        fn (NatsMessage $msg) => answerSubscribe($nats, $msg),
    );
    $nats->flush(); // the subscriptions are in place once the server has answered PING
    fwrite(STDOUT, "answering $prefix.subscribe in queue group $subscribeQueue on $url\n");
    fwrite(STDOUT, "answering $prefix.auth in queue group $queue on $url\n");

    while (!$stopping) {
        $nats->process(1.0); // handles PING, and each request as it arrives
    }
    // Drain: stop receiving, then answer everything the server sent before it saw the UNSUB.
    $nats->unsubscribe($sid);
    $nats->unsubscribe($subscribeSid);
    $nats->flush();
    $nats->close();
    // ANCHOR_END: serve
} catch (Throwable $error) {
    fwrite(STDERR, 'auth-responder: ' . $error->getMessage() . "\n");
    exit(1);
}
