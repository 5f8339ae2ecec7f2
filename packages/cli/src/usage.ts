/** A usage problem: exit code 2 with a message that says what to pass. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An integer option within [min, max], or a UsageError that names the option and the range. */
export function integerOption(text: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${what} takes an integer from ${min} to ${max}`);
  return n;
}
