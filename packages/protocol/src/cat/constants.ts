// Codes of the card application toolkit (ETSI TS 102 223, tag values from TS 101 220 §7.2–7.3) that
// the proactive commands, TERMINAL RESPONSE and ENVELOPEs of BIP and OTA need.

/** BER-TLV templates (TS 101 220 Table 7.17). */
export const CAT_TEMPLATE = {
  PROACTIVE_COMMAND: 0xd0,
  SMS_PP_DOWNLOAD: 0xd1,
  CELL_BROADCAST_DOWNLOAD: 0xd2,
  MENU_SELECTION: 0xd3,
  CALL_CONTROL: 0xd4,
  MO_SMS_CONTROL: 0xd5,
  EVENT_DOWNLOAD: 0xd6,
  TIMER_EXPIRATION: 0xd7,
} as const;

/** COMPREHENSION-TLV tags, without the CR flag (TS 101 220 Table 7.18; TS 102 223 §8). */
export const CAT_TAG = {
  COMMAND_DETAILS: 0x01,
  DEVICE_IDENTITIES: 0x02,
  RESULT: 0x03,
  DURATION: 0x04,
  ALPHA_IDENTIFIER: 0x05,
  ADDRESS: 0x06,
  SMS_TPDU: 0x0b,
  TEXT_STRING: 0x0d,
  EVENT_LIST: 0x19,
  TIMER_VALUE: 0x25,
  BEARER_DESCRIPTION: 0x35,
  CHANNEL_DATA: 0x36,
  CHANNEL_DATA_LENGTH: 0x37,
  CHANNEL_STATUS: 0x38,
  BUFFER_SIZE: 0x39,
  TRANSPORT_LEVEL: 0x3c,
  OTHER_ADDRESS: 0x3e,
  NETWORK_ACCESS_NAME: 0x47,
} as const;

/** Type of command (TS 102 223 §9.4). */
export const CAT_COMMAND = {
  REFRESH: 0x01,
  MORE_TIME: 0x02,
  POLL_INTERVAL: 0x03,
  POLLING_OFF: 0x04,
  SET_UP_EVENT_LIST: 0x05,
  SEND_SHORT_MESSAGE: 0x13,
  PROVIDE_LOCAL_INFORMATION: 0x26,
  TIMER_MANAGEMENT: 0x27,
  OPEN_CHANNEL: 0x40,
  CLOSE_CHANNEL: 0x41,
  RECEIVE_DATA: 0x42,
  SEND_DATA: 0x43,
  GET_CHANNEL_STATUS: 0x44,
} as const;

export const CAT_COMMAND_NAMES: Record<number, string> = {
  1: 'REFRESH',
  2: 'MORE TIME',
  3: 'POLL INTERVAL',
  4: 'POLLING OFF',
  5: 'SET UP EVENT LIST',
  19: 'SEND SHORT MESSAGE',
  38: 'PROVIDE LOCAL INFORMATION',
  39: 'TIMER MANAGEMENT',
  64: 'OPEN CHANNEL',
  65: 'CLOSE CHANNEL',
  66: 'RECEIVE DATA',
  67: 'SEND DATA',
  68: 'GET CHANNEL STATUS',
};

/** Device identities (TS 102 223 §8.7); channel n (1..7) is 0x20 + n. */
export const DEVICE = { KEYPAD: 0x01, DISPLAY: 0x02, UICC: 0x81, TERMINAL: 0x82, NETWORK: 0x83 } as const;
export const channelDevice = (channel: number) => 0x20 + channel;
export const channelOfDevice = (device: number) =>
  device >= 0x21 && device <= 0x27 ? device - 0x20 : undefined;

/** Events of SET UP EVENT LIST and event download (TS 102 223 §8.25). */
export const CAT_EVENT = {
  MT_CALL: 0x00,
  CALL_CONNECTED: 0x01,
  CALL_DISCONNECTED: 0x02,
  LOCATION_STATUS: 0x03,
  USER_ACTIVITY: 0x04,
  IDLE_SCREEN_AVAILABLE: 0x05,
  CARD_READER_STATUS: 0x06,
  LANGUAGE_SELECTION: 0x07,
  BROWSER_TERMINATION: 0x08,
  DATA_AVAILABLE: 0x09,
  CHANNEL_STATUS: 0x0a,
} as const;

/** General result of a TERMINAL RESPONSE (TS 102 223 §8.12): 0x performed, 2x retry later, 3x do not. */
export const GENERAL_RESULT = {
  OK: 0x00,
  PARTIAL_COMPREHENSION: 0x01,
  MISSING_INFORMATION: 0x02,
  PERFORMED_WITH_MODIFICATION: 0x07,
  TERMINAL_CURRENTLY_UNABLE: 0x20,
  NETWORK_CURRENTLY_UNABLE: 0x21,
  BEYOND_TERMINAL_CAPABILITIES: 0x30,
  TYPE_NOT_UNDERSTOOD: 0x31,
  DATA_NOT_UNDERSTOOD: 0x32,
  NUMBER_NOT_KNOWN: 0x33,
  REQUIRED_VALUES_MISSING: 0x36,
  BIP_ERROR: 0x3a,
} as const;

/** Additional information of result 3A, Bearer Independent Protocol error (TS 102 223 §8.12.11). */
export const BIP_ERROR = {
  NO_SPECIFIC_CAUSE: 0x00,
  NO_CHANNEL_AVAILABLE: 0x01,
  CHANNEL_CLOSED: 0x02,
  CHANNEL_ID_NOT_VALID: 0x03,
  BUFFER_SIZE_NOT_AVAILABLE: 0x04,
  SECURITY_ERROR: 0x05,
  TRANSPORT_LEVEL_NOT_AVAILABLE: 0x06,
  REMOTE_DEVICE_NOT_REACHABLE: 0x07,
  SERVICE_ERROR: 0x08,
  SERVICE_IDENTIFIER_UNKNOWN: 0x09,
} as const;

/** Whether a general result says the command was performed (0x and 1x, TS 102 223 §8.12). */
export const resultPerformed = (general: number) => general < 0x20;

/** Transport protocol types of the UICC/terminal interface transport level (TS 102 223 §8.59). */
export const TRANSPORT_PROTOCOL = {
  UDP_CLIENT_REMOTE: 0x01,
  TCP_CLIENT_REMOTE: 0x02,
  TCP_SERVER: 0x03,
  UDP_CLIENT_LOCAL: 0x04,
  TCP_CLIENT_LOCAL: 0x05,
  DIRECT: 0x06,
} as const;

/** Bearer types of the bearer description (TS 102 223 §8.52). */
export const BEARER = { CSD: 0x01, PACKET: 0x02, DEFAULT: 0x03, LOCAL_LINK: 0x04, E_UTRAN: 0x0b } as const;

/** Types of address of other address (TS 102 223 §8.58). */
export const ADDRESS_TYPE = { IPV4: 0x21, IPV6: 0x57 } as const;

/** OPEN CHANNEL command qualifier bits (TS 102 223 §8.6). */
export const OPEN_CHANNEL_QUALIFIER = {
  IMMEDIATE_LINK: 0x01,
  AUTOMATIC_RECONNECTION: 0x02,
  BACKGROUND_MODE: 0x04,
  DNS_ADDRESS_REQUESTED: 0x08,
} as const;

/** SEND DATA qualifier b1: send immediately (else store in the Tx buffer), TS 102 223 §8.6. */
export const SEND_DATA_IMMEDIATELY = 0x01;

/** Channel status byte 2 (TS 102 223 §8.56): no further information, or link dropped. */
export const CHANNEL_STATUS_INFO = { NONE: 0x00, LINK_DROPPED: 0x05 } as const;
