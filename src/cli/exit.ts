/**
 * Exits once stdout and stderr have taken everything written so far. Exiting explicitly means a
 * leftover handle (a reconnect timer, a socket) can never keep a finished command alive.
 */
export async function exitAfterFlush(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve();
    else stream.write("", () => resolve());
  });
}
