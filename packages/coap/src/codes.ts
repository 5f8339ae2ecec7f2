// Message codes: class.detail in one byte (RFC 7252 §3, §12.1), methods and response codes.

/** Builds a code from its class and detail: code(2, 5) is 2.05 Content. */
export function code(codeClass: number, detail: number): number {
  return (codeClass << 5) | detail;
}

export const Method = {
  GET: 0x01,
  POST: 0x02,
  PUT: 0x03,
  DELETE: 0x04,
  FETCH: 0x05, // RFC 8132
  PATCH: 0x06,
  iPATCH: 0x07,
} as const;
export type MethodName = keyof typeof Method;

/** RFC 7252 §12.1.2, RFC 7959 §2.9, RFC 8132 §6, RFC 8516, RFC 8768. */
export const ResponseCode = {
  Created: 0x41,
  Deleted: 0x42,
  Valid: 0x43,
  Changed: 0x44,
  Content: 0x45,
  Continue: 0x5f,
  BadRequest: 0x80,
  Unauthorized: 0x81,
  BadOption: 0x82,
  Forbidden: 0x83,
  NotFound: 0x84,
  MethodNotAllowed: 0x85,
  NotAcceptable: 0x86,
  RequestEntityIncomplete: 0x88,
  Conflict: 0x89,
  PreconditionFailed: 0x8c,
  RequestEntityTooLarge: 0x8d,
  UnsupportedContentFormat: 0x8f,
  UnprocessableEntity: 0x96,
  TooManyRequests: 0x9d,
  InternalServerError: 0xa0,
  NotImplemented: 0xa1,
  BadGateway: 0xa2,
  ServiceUnavailable: 0xa3,
  GatewayTimeout: 0xa4,
  ProxyingNotSupported: 0xa5,
  HopLimitReached: 0xa8,
} as const;

const NAMES = new Map<number, string>([
  [0, 'Empty'],
  ...Object.entries(Method).map(([name, value]) => [value, name] as [number, string]),
  ...Object.entries(ResponseCode).map(
    ([name, value]) => [value, name.replace(/(?<=[a-z])(?=[A-Z])/g, ' ')] as [number, string],
  ),
]);

/** "2.05" for 0x45. */
export function codeToString(value: number): string {
  return `${value >> 5}.${String(value & 0x1f).padStart(2, '0')}`;
}

/** "2.05 Content", "0.01 GET", or just "3.09" for a code without a name. */
export function describeCode(value: number): string {
  const name = NAMES.get(value);
  return name ? `${codeToString(value)} ${name}` : codeToString(value);
}

export const isRequestCode = (value: number): boolean => value >> 5 === 0 && value !== 0;
export const isResponseCode = (value: number): boolean => value >> 5 >= 2 && value >> 5 <= 5;
export const isSuccessCode = (value: number): boolean => value >> 5 === 2;

/** Parses "GET" (any case) into its method code. */
export function methodCode(name: string): number | undefined {
  const entry = Object.entries(Method).find(([n]) => n.toLowerCase() === name.toLowerCase());
  return entry?.[1];
}
