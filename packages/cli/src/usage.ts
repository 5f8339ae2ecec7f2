/** A usage problem: exit code 2 with a message that says what to pass. */
export class UsageError extends Error {
  override name = 'UsageError';
}
