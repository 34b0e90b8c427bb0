<?php
// A small NATS client over a plain TCP stream socket: enough of the protocol for a Herald backend,
// and short enough to read in one sitting. PHP 8.2 with no extension beyond the default build.
//
// The protocol is text lines ending in \r\n, plus raw payloads of announced length:
//   server -> client  INFO {json} | MSG subject sid [reply] bytes | HMSG subject sid [reply] hbytes tbytes
//                     | PING | PONG | +OK | -ERR 'text'
//   client -> server  CONNECT {json} | SUB subject [queue] sid | UNSUB sid [max]
//                     | PUB subject [reply] bytes | HPUB subject [reply] hbytes tbytes | PING | PONG
// Not covered: TLS, reconnecting (a supervisor restarts the process), cluster server lists.
// Reference: https://docs.nats.io/reference/reference-protocols/nats-protocol

declare(strict_types=1);

/** A message as received: `status` is set on header-only status messages (503 = no responders). */
final class NatsMessage
{
    /** @param array<string, string> $headers */
    public function __construct(
        public readonly string $subject,
        public readonly ?string $replyTo,
        public readonly string $payload,
        public readonly array $headers = [],
        public readonly ?int $status = null,
    ) {
    }
}

final class NatsClient
{
    private const CRLF = "\r\n";

    /** Bytes read from the socket but not parsed yet. */
    private string $buffer = '';
    private int $nextSid = 1;
    /** @var array<int, callable(NatsMessage): void> */
    private array $handlers = [];
    private int $pongs = 0;
    /** The largest payload the server takes, from its INFO. */
    private int $maxPayload = 1048576;

    /** @param resource $socket */
    private function __construct(private $socket)
    {
    }

    /** Connects to `nats://[user:pass@]host:port` (or `nats://token@host:port`) and waits for the server's PONG. */
    public static function connect(string $url, float $timeout = 5.0): self
    {
        $parts = parse_url($url);
        if ($parts === false || !isset($parts['host'])) {
            throw new InvalidArgumentException('NATS URL must look like nats://host:4222');
        }
        $address = sprintf('tcp://%s:%d', $parts['host'], $parts['port'] ?? 4222);
        $socket = @stream_socket_client($address, $errno, $error, $timeout);
        if ($socket === false) {
            throw new RuntimeException("cannot reach NATS at {$parts['host']}: $error");
        }
        // The server speaks first: INFO {"server_id":..., "max_payload":..., "headers":true, ...}
        $client = new self($socket);
        $line = $client->readLine(microtime(true) + $timeout);
        if ($line === null || !str_starts_with($line, 'INFO ')) {
            throw new RuntimeException('the server did not greet with INFO: is this a NATS server?');
        }
        $info = json_decode(substr($line, 5), true, 16, JSON_THROW_ON_ERROR);
        $client->maxPayload = (int) ($info['max_payload'] ?? $client->maxPayload);

        $options = [
            'verbose' => false,      // no +OK after every command
            'pedantic' => false,
            'lang' => 'php',
            'version' => '1.0.0',
            'protocol' => 1,         // the server may send async INFO updates
            'headers' => true,       // we understand HMSG
            'no_responders' => true, // a request nobody answers gets a 503 status at once
            'name' => basename($_SERVER['SCRIPT_NAME'] ?? 'php'),
        ];
        if (isset($parts['user'], $parts['pass'])) {
            $options['user'] = urldecode($parts['user']);
            $options['pass'] = urldecode($parts['pass']);
        } elseif (isset($parts['user'])) {
            $options['auth_token'] = urldecode($parts['user']);
        }
        $client->write('CONNECT ' . json_encode($options, JSON_THROW_ON_ERROR) . self::CRLF);
        // PING/PONG round trip: a refused CONNECT answers -ERR before the PONG.
        $client->flush($timeout);
        return $client;
    }

    /** Subscribes; with a queue group each message goes to one member of the group. Returns the sid. */
    public function subscribe(string $subject, ?string $queue, callable $handler): int
    {
        $sid = $this->nextSid++;
        $this->handlers[$sid] = $handler;
        $this->write($queue === null ? "SUB $subject $sid\r\n" : "SUB $subject $queue $sid\r\n");
        return $sid;
    }

    /** Stops a subscription; messages the server sent before it saw this still arrive (see drain()). */
    public function unsubscribe(int $sid): void
    {
        $this->write("UNSUB $sid\r\n");
    }

    /**
     * Publishes `payload` to `subject`. With `replyTo` the receiver can answer there; with headers
     * it is sent as HPUB, each header one `Name: value` line after the `NATS/1.0` version line.
     *
     * @param array<string, string> $headers
     */
    public function publish(string $subject, string $payload, ?string $replyTo = null, array $headers = []): void
    {
        if (strlen($payload) > $this->maxPayload) {
            throw new LengthException("payload of " . strlen($payload) . " bytes is over the server's max_payload");
        }
        $target = $replyTo === null ? $subject : "$subject $replyTo";
        if ($headers === []) {
            $this->write("PUB $target " . strlen($payload) . self::CRLF . $payload . self::CRLF);
            return;
        }
        $block = 'NATS/1.0' . self::CRLF;
        foreach ($headers as $name => $value) {
            // one line per header: strip anything that could end the line early
            $block .= $name . ': ' . preg_replace('/[\r\n]+/', ' ', $value) . self::CRLF;
        }
        $block .= self::CRLF;
        $total = strlen($block) + strlen($payload);
        $this->write("HPUB $target " . strlen($block) . " $total" . self::CRLF . $block . $payload . self::CRLF);
    }

    /**
     * Sends a request and waits for the first reply, on a fresh inbox subscription that the server
     * removes after one message. Returns null when nothing came within `timeout` seconds; a reply
     * with status 503 means no one is subscribed to the subject.
     *
     * @param array<string, string> $headers
     */
    public function request(string $subject, string $payload, float $timeout, array $headers = []): ?NatsMessage
    {
        $inbox = '_INBOX.' . bin2hex(random_bytes(12));
        $reply = null;
        $sid = $this->subscribe($inbox, null, function (NatsMessage $msg) use (&$reply): void {
            $reply = $msg;
        });
        $this->write("UNSUB $sid 1\r\n");
        $this->publish($subject, $payload, $inbox, $headers);
        $deadline = microtime(true) + $timeout;
        while ($reply === null && microtime(true) < $deadline) {
            $this->process($deadline - microtime(true));
        }
        unset($this->handlers[$sid]);
        return $reply;
    }

    /** PING, then handles incoming traffic until the PONG: everything sent before has reached the server. */
    public function flush(float $timeout = 5.0): void
    {
        $expected = $this->pongs + 1;
        $this->write('PING' . self::CRLF);
        $deadline = microtime(true) + $timeout;
        while ($this->pongs < $expected) {
            if (microtime(true) >= $deadline) {
                throw new RuntimeException('NATS did not answer PING in time');
            }
            $this->process($deadline - microtime(true));
        }
    }

    /**
     * Reads and handles one protocol line (and its payload), waiting at most `timeout` seconds.
     * Returns false when nothing arrived in time. Message handlers run here, one at a time.
     */
    public function process(float $timeout): bool
    {
        $line = $this->readLine(microtime(true) + max(0.0, $timeout));
        if ($line === null) {
            return false;
        }
        [$op] = explode(' ', $line, 2);
        switch ($op) {
            case 'PING': // the server checks we are alive (every 2 minutes by default)
                $this->write('PONG' . self::CRLF);
                break;
            case 'PONG':
                $this->pongs++;
                break;
            case 'MSG':  // MSG <subject> <sid> [reply-to] <#bytes>
            case 'HMSG': // HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>
                $this->dispatch($op, explode(' ', $line));
                break;
            case '-ERR':
                throw new RuntimeException('NATS error: ' . substr($line, 5, 64));
            default: // +OK, INFO updates: nothing to do
        }
        return true;
    }

    /** Closes the socket; call flush() first if something was just published. */
    public function close(): void
    {
        fclose($this->socket);
    }

    /** @param list<string> $fields */
    private function dispatch(string $op, array $fields): void
    {
        $withHeaders = $op === 'HMSG';
        $counts = $withHeaders ? 2 : 1;
        $subject = $fields[1];
        $sid = (int) $fields[2];
        $replyTo = count($fields) === 3 + $counts + 1 ? $fields[3] : null;
        $total = (int) end($fields);
        $headerBytes = $withHeaders ? (int) $fields[count($fields) - 2] : 0;

        $data = $this->readBytes($total + 2); // payload, then \r\n
        [$headers, $status] = $withHeaders ? self::parseHeaders(substr($data, 0, $headerBytes)) : [[], null];
        $message = new NatsMessage($subject, $replyTo, substr($data, $headerBytes, $total - $headerBytes), $headers, $status);
        $handler = $this->handlers[$sid] ?? null;
        if ($handler !== null) {
            $handler($message);
        }
    }

    /** @return array{0: array<string, string>, 1: ?int} headers, and the status of `NATS/1.0 503` */
    private static function parseHeaders(string $block): array
    {
        $lines = explode(self::CRLF, rtrim($block, self::CRLF));
        $status = preg_match('/^NATS\/1\.0 (\d{3})/', array_shift($lines) ?? '', $m) ? (int) $m[1] : null;
        $headers = [];
        foreach ($lines as $line) {
            [$name, $value] = array_pad(explode(':', $line, 2), 2, '');
            $headers[trim($name)] = trim($value);
        }
        return [$headers, $status];
    }

    /** A line without its \r\n, or null if none is complete by `deadline` (microtime). */
    private function readLine(float $deadline): ?string
    {
        while (($end = strpos($this->buffer, self::CRLF)) === false) {
            if (!$this->fill($deadline)) {
                return null;
            }
        }
        $line = substr($this->buffer, 0, $end);
        $this->buffer = substr($this->buffer, $end + 2);
        return $line;
    }

    /** Exactly `count` bytes: a payload follows its control line at once, so a short wait is an error. */
    private function readBytes(int $count): string
    {
        $deadline = microtime(true) + 10;
        while (strlen($this->buffer) < $count) {
            if (!$this->fill($deadline)) {
                throw new RuntimeException('NATS connection stalled in the middle of a message');
            }
        }
        $bytes = substr($this->buffer, 0, $count);
        $this->buffer = substr($this->buffer, $count);
        return $bytes;
    }

    /** Waits for data until `deadline` and appends it to the buffer; false on timeout. */
    private function fill(float $deadline): bool
    {
        $left = $deadline - microtime(true);
        if ($left <= 0) {
            return false;
        }
        $read = [$this->socket];
        $none = null;
        $seconds = (int) $left;
        // false: interrupted by a signal (the caller looks at its flags and calls again); 0: timeout
        $ready = @stream_select($read, $none, $none, $seconds, (int) (($left - $seconds) * 1e6));
        if ($ready === false || $ready === 0) {
            return false;
        }
        $chunk = fread($this->socket, 65536);
        if ($chunk === false || ($chunk === '' && feof($this->socket))) {
            throw new RuntimeException('NATS closed the connection');
        }
        $this->buffer .= $chunk;
        return true;
    }

    private function write(string $bytes): void
    {
        while ($bytes !== '') {
            $written = @fwrite($this->socket, $bytes);
            if ($written === false || $written === 0) {
                throw new RuntimeException('cannot write to NATS: connection lost');
            }
            $bytes = substr($bytes, $written);
        }
    }
}
