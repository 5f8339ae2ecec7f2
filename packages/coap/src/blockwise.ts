// Block-wise transfers (RFC 7959): a request body sent in Block1 blocks, a response body fetched in
// Block2 blocks, with the block size the server chooses (size negotiation, §2.3-§2.5).
import { blockSize, decodeBlock, encodeBlock } from './block.js';
import { codeToString, isSuccessCode, ResponseCode } from './codes.js';
import { CoapBlockwiseError } from './errors.js';
import type { CoapMessage } from './message.js';
import { type CoapOption, findOption, OptionNumber, uintOption, withoutOptions } from './options.js';

export interface RequestParts {
  code: number;
  options: CoapOption[];
  payload: Uint8Array;
}

/** Sends one request message and resolves with its response message. */
export type Exchange = (request: RequestParts) => Promise<CoapMessage>;

export interface BlockwiseSettings {
  /** Block size exponent for Block1 and for asking Block2 (RFC 7959 §2.2). */
  szx: number;
  /** Ask for this block size in Block2 from the first request (early negotiation, §2.4). */
  requestBlock2: boolean;
  /** A representation larger than this is refused (a server that never sets M=0). */
  maxBodySize: number;
}

const block = (number: number, num: number, more: boolean, szx: number): CoapOption => ({
  number,
  value: encodeBlock({ num, more, szx }),
});

function blockOption(message: CoapMessage, number: number) {
  const value = findOption(message.options, number);
  return value === undefined ? undefined : decodeBlock(value);
}

/** Sends `request`, in Block1 blocks when its payload is larger than a block; the final response. */
export async function sendBlock1(exchange: Exchange, request: RequestParts, settings: BlockwiseSettings) {
  const body = request.payload;
  const control = settings.requestBlock2 ? [block(OptionNumber.Block2, 0, false, settings.szx)] : [];
  if (body.length <= blockSize(settings.szx)) {
    return {
      response: await exchange({ ...request, options: [...request.options, ...control] }),
      messages: 1,
    };
  }
  let szx = settings.szx;
  let offset = 0;
  let messages = 0;
  for (;;) {
    const size = blockSize(szx);
    const num = offset / size;
    const more = offset + size < body.length;
    const options = [...request.options, block(OptionNumber.Block1, num, more, szx)];
    if (num === 0) options.push(uintOption(OptionNumber.Size1, body.length)); // RFC 7959 §4
    if (!more) options.push(...control);
    const response = await exchange({ ...request, options, payload: body.subarray(offset, offset + size) });
    messages++;
    const echoed = blockOption(response, OptionNumber.Block1);
    // §2.5: 4.13 with a Block1 option gives the size the server wants; start again with it.
    if (response.code === ResponseCode.RequestEntityTooLarge && echoed && echoed.szx < szx && offset === 0) {
      szx = echoed.szx;
      continue;
    }
    if (!more) return { response, messages };
    if (response.code !== ResponseCode.Continue) return { response, messages }; // an error (or early end)
    if (echoed && echoed.num !== num)
      throw new CoapBlockwiseError(`server acknowledged block ${echoed.num} for block ${num}`, {
        responseCode: response.code,
      });
    offset += size;
    // §2.3: a smaller SZX in the 2.31 is the size for the next blocks (offset stays a multiple).
    if (echoed && echoed.szx < szx) szx = echoed.szx;
  }
}

/**
 * Fetches the rest of a representation whose first response carries Block2 with M=1 (§2.4): the
 * same request (method and options, no Block1, no payload) with Block2 NUM 1, 2, …, checking the
 * block numbers and the ETag; the whole payload.
 */
export async function fetchBlock2(
  exchange: Exchange,
  request: RequestParts,
  first: CoapMessage,
  settings: BlockwiseSettings,
): Promise<{ last: CoapMessage; payload: Uint8Array; messages: number }> {
  let current = blockOption(first, OptionNumber.Block2);
  if (!current?.more) return { last: first, payload: first.payload, messages: 1 };
  if (current.num !== 0) throw new CoapBlockwiseError(`the first response is block ${current.num}, not 0`);
  const etag = findOption(first.options, OptionNumber.ETag);
  const parts = [first.payload];
  let received = first.payload.length;
  let last = first;
  let messages = 1;
  const base = withoutOptions(
    request.options,
    OptionNumber.Block1,
    OptionNumber.Block2,
    OptionNumber.Observe,
    OptionNumber.Size1,
  );
  while (current.more) {
    const size = blockSize(current.szx);
    if (received % size !== 0 || last.payload.length !== blockSize(current.szx))
      throw new CoapBlockwiseError(`block ${current.num} has ${last.payload.length} bytes, not ${size}`);
    if (received + size > settings.maxBodySize)
      throw new CoapBlockwiseError(`representation larger than ${settings.maxBodySize} bytes`);
    const num = received / size;
    last = await exchange({
      code: request.code,
      options: [...base, block(OptionNumber.Block2, num, false, current.szx)],
      payload: new Uint8Array(0),
    });
    messages++;
    if (!isSuccessCode(last.code))
      throw new CoapBlockwiseError(`block ${num} answered ${codeToString(last.code)}`, {
        responseCode: last.code,
      });
    const next = blockOption(last, OptionNumber.Block2);
    // A smaller size than asked is allowed, as long as the block starts where the last one ended.
    if (!next || next.num * blockSize(next.szx) !== received)
      throw new CoapBlockwiseError(`asked for block ${num}, got ${next ? `block ${next.num}` : 'no Block2'}`);
    const tag = findOption(last.options, OptionNumber.ETag);
    if (etag && (!tag || Buffer.compare(tag, etag) !== 0))
      throw new CoapBlockwiseError('the representation changed during the transfer (ETag)');
    parts.push(last.payload);
    received += last.payload.length;
    current = next;
  }
  return { last, payload: Buffer.concat(parts), messages };
}
