import { describeStatusWord, FormatError, SW, swToHex } from '@iotsafe/protocol';

/** A handler's refusal: the card answers with this status word and changes nothing. */
export class CardError extends Error {
  override name = 'CardError';
  constructor(
    readonly sw: number,
    reason?: string,
  ) {
    super(`${swToHex(sw)}: ${reason ?? describeStatusWord(sw)}`);
  }
}

/** Refuses the command being processed: the card answers `sw`. */
export const fail = (sw: number, reason?: string): never => {
  throw new CardError(sw, reason);
};

/**
 * Runs a decoder of command data; malformed data (a FormatError) becomes CardError with `sw`, by
 * default 6A80 (ISO 7816-4 §5.6: incorrect parameters in the command data field). `sw` may depend
 * on the error (a key check value mismatch is 6982 in GPCS 11.8).
 */
export function decodeOrRefuse<T>(
  decoder: () => T,
  sw: number | ((error: FormatError) => number) = SW.INCORRECT_DATA,
): T {
  try {
    return decoder();
  } catch (error) {
    if (error instanceof FormatError)
      throw new CardError(typeof sw === 'number' ? sw : sw(error), error.message);
    throw error;
  }
}
