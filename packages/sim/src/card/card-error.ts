import { describeStatusWord, swToHex } from '@iotsafe/protocol';

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
