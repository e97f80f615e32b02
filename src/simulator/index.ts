/**
 * A fleet of simulated Teltonika trackers speaking real TCP to a gateway, with an exact ledger of
 * every ACKed record (IMEI + timestamp) for end-to-end checks against the database.
 */
export { ConnectFailed, DeviceSocket } from "./DeviceSocket.ts"
export {
  ackedKeys,
  type FleetMonitor,
  type FleetOptions,
  type FleetReport,
  type FleetStats,
  fleetImeis,
  makeFleetMonitor,
  runFleet,
} from "./Fleet.ts"
export { isLuhnValid, MAX_SIMULATED_DEVICES, simulatedImei } from "./imei.ts"
export { makeRandom, type Random } from "./random.ts"
export { type DeviceProfile, pickCodec, VirtualDevice } from "./VirtualDevice.ts"
