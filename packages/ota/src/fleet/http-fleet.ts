// The fleet routes of the OTA API: the inventory and the vendor batch import (http-inventory.ts),
// campaigns over the job system and their outcomes over time (http-campaigns.ts), and API token
// management (http-tokens.ts). Errors in the API's JSON shape (http-shared.ts).
import type { FastifyInstance } from 'fastify';
import type { OtaServer } from '../server.js';
import { Campaigns } from './campaigns.js';
import { campaignRoutes } from './http-campaigns.js';
import { inventoryRoutes } from './http-inventory.js';
import { tokenRoutes } from './http-tokens.js';
import type { TokenStore } from './tokens.js';
import type { TransportCipher } from './vendor-csv.js';

export interface FleetRouteOptions {
  tokens: TokenStore;
  /** The transport key vendor files' keys are encrypted under (it never travels in a request). */
  transportKey?: Uint8Array;
  cipher?: TransportCipher;
  /** Largest import file (default 64 MiB). */
  maxImportBytes?: number;
  /** The SMSC account's submit rate, for dry runs' expected duration. */
  tps?: number;
}

export function fleetRoutes(app: FastifyInstance, server: OtaServer, options: FleetRouteOptions): Campaigns {
  const campaigns = new Campaigns(server, options.tps === undefined ? {} : { tps: options.tps });
  inventoryRoutes(app, server, options);
  campaignRoutes(app, server, campaigns);
  tokenRoutes(app, server.store, options.tokens);
  return campaigns;
}
