<?php
// Answers the calls Herald clients make with client.rpc(method, data): a NATS request per call on
// <prefix>.rpc.<method>, the caller in the body.
//
//   NATS_URL=nats://127.0.0.1:4222 php rpc-responder.php
//
// Long-running. Subscribes to <prefix>.rpc.> (every method) in the queue group herald-rpc, so any
// number of copies share the calls. SIGTERM or Ctrl-C stops it after answering what it received.

declare(strict_types=1);

require __DIR__ . '/nats-client.php';

$url = getenv('NATS_URL') ?: 'nats://127.0.0.1:4222';
$prefix = getenv('HERALD_PREFIX') ?: 'herald';
$queue = 'herald-rpc';

function refusal(string $code, string $message): array
{
    return ['ok' => false, 'error' => ['code' => $code, 'message' => $message]];
}

// ANCHOR: answer
/**
 * The answer to one call. $request holds user (who called, already authenticated by the gateway),
 * connection, gateway, method and data (whatever JSON the page sent: check it like any input).
 */
function call(array $request): array
{
    switch ($request['method']) {
        case 'time':
            return ['ok' => true, 'data' => ['now' => (int) floor(microtime(true) * 1000), 'user' => $request['user']]];
        default:
            // The client's promise rejects with code REFUSED and reason unknown_method.
            return refusal('unknown_method', 'no such method');
    }
}

function answer(NatsClient $nats, NatsMessage $msg): void
{
    if ($msg->replyTo === null) {
        return; // not a request: nowhere to answer
    }
    $request = json_decode($msg->payload, true);
    if (!is_array($request) || !is_string($request['method'] ?? null) || !is_string($request['user'] ?? null)) {
        // Not a call: the NATS service-error convention. The client gets BACKEND_ERROR.
        $nats->publish($msg->replyTo, '', null, [
            'Nats-Service-Error' => 'invalid rpc request',
            'Nats-Service-Error-Code' => '400',
        ]);
        return;
    }
    $nats->publish($msg->replyTo, json_encode(call($request), JSON_THROW_ON_ERROR));
}
// ANCHOR_END: answer

$stopping = false;
if (function_exists('pcntl_async_signals')) {
    pcntl_async_signals(true);
    pcntl_signal(SIGTERM, function () use (&$stopping) { $stopping = true; }, false);
    pcntl_signal(SIGINT, function () use (&$stopping) { $stopping = true; }, false);
}

try {
    $nats = NatsClient::connect($url);
    $sid = $nats->subscribe("$prefix.rpc.>", $queue, fn (NatsMessage $msg) => answer($nats, $msg));
    $nats->flush(); // the subscription is in place once the server has answered PING
    fwrite(STDOUT, "answering $prefix.rpc.> in queue group $queue on $url\n");

    while (!$stopping) {
        $nats->process(1.0); // handles PING, and each call as it arrives
    }
    // Drain: stop receiving, then answer everything the server sent before it saw the UNSUB.
    $nats->unsubscribe($sid);
    $nats->flush();
    $nats->close();
} catch (Throwable $error) {
    fwrite(STDERR, 'rpc-responder: ' . $error->getMessage() . "\n");
    exit(1);
}
