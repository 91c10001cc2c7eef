/**
 * Whether a listen address is loopback only: what may run without admin
 * authentication (`--admin-auth none`) or an internal listener without the
 * service token. Names other than "localhost" are not resolved: a name that
 * resolves to loopback today may not tomorrow.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
