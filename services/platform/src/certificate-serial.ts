/**
 * A certificate serial number as Fleetplane compares and records it
 * ("cert:<serial>"): lowercase hex without leading zeros. Node's TLS layer
 * and @peculiar/x509 write the same number with different case and padding.
 */
export function certificateSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, "");
}
