// A response as the application sees it: the final message of an exchange with the whole
// representation, reassembled when it came in blocks.
import { codeToString, describeCode, isSuccessCode } from './codes.js';
import { contentFormatName } from './content-format.js';
import type { CoapMessage } from './message.js';
import {
  type CoapOption,
  decodeString,
  findOption,
  findOptions,
  findUintOption,
  OptionNumber,
} from './options.js';
import { describeOption } from './trace.js';

export class CoapResponse {
  readonly code: number;
  readonly options: readonly CoapOption[];

  /**
   * @param message the last response message (for a block-wise transfer, the last block's)
   * @param payload the whole representation
   * @param messages how many response messages it took
   */
  constructor(
    readonly message: CoapMessage,
    readonly payload: Uint8Array,
    readonly messages = 1,
  ) {
    this.code = message.code;
    this.options = message.options;
  }

  /** A 2.xx code. */
  get ok(): boolean {
    return isSuccessCode(this.code);
  }

  /** "2.05 Content" */
  get status(): string {
    return describeCode(this.code);
  }

  get contentFormat(): number | undefined {
    return findUintOption(this.options, OptionNumber.ContentFormat);
  }

  get observe(): number | undefined {
    return findUintOption(this.options, OptionNumber.Observe);
  }

  get etag(): Uint8Array | undefined {
    return findOption(this.options, OptionNumber.ETag);
  }

  /** Max-Age in seconds, 60 when absent (RFC 7252 §5.10.5). */
  get maxAge(): number {
    return findUintOption(this.options, OptionNumber.MaxAge) ?? 60;
  }

  /** Location-Path segments of a 2.01 Created (RFC 7252 §5.10.7). */
  get locationPath(): string[] {
    return findOptions(this.options, OptionNumber.LocationPath).map(decodeString);
  }

  /** The payload as UTF-8 text (malformed sequences replaced). */
  text(): string {
    return Buffer.from(this.payload.buffer, this.payload.byteOffset, this.payload.length).toString('utf8');
  }

  /** A plain object for `--json`: the code, options as text, the payload as text when it is text. */
  toJSON() {
    const format = this.contentFormat;
    const textual = format === undefined || [0, 40, 41, 50, 110, 111, 310, 311].includes(format);
    return {
      code: codeToString(this.code),
      status: this.status,
      contentFormat: format === undefined ? undefined : (contentFormatName(format) ?? format),
      options: this.options.map(describeOption),
      ...(textual
        ? { payload: this.text() }
        : {
            payloadHex: Buffer.from(
              this.payload.buffer,
              this.payload.byteOffset,
              this.payload.length,
            ).toString('hex'),
          }),
      messages: this.messages,
    };
  }
}
