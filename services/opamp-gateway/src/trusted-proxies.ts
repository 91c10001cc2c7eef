import { BlockList, isIP } from "node:net";

/**
 * The peers whose X-Forwarded-Proto and X-Forwarded-Host are believed
 * (--trusted-proxies): a TLS-terminating proxy in front of the gateway says
 * which URL the agent used. From anyone else the headers are ignored — an
 * agent could otherwise set the endpoint the server offers back to it and
 * records for it. Addresses or CIDR ranges, IPv4 or IPv6.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  /** Throws InvalidTrustedProxyError for an entry that is no address or range. */
  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [address, bits, extra] = entry.split("/");
      const family = isIP(address ?? "");
      if (family === 0 || extra !== undefined) throw new InvalidTrustedProxyError(entry);
      const type = family === 4 ? "ipv4" : "ipv6";
      if (bits === undefined) {
        this.list.addAddress(address!, type);
        continue;
      }
      const prefix = Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new InvalidTrustedProxyError(entry);
      this.list.addSubnet(address!, prefix, type);
    }
  }

  /** Whether the peer at `remoteAddress` (as a socket reports it) is one of them. */
  trusts(remoteAddress: string | undefined): boolean {
    if (this.empty || !remoteAddress) return false;
    // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
    if (mapped) return this.list.check(mapped[1]!, "ipv4");
    return this.list.check(remoteAddress, isIP(remoteAddress) === 6 ? "ipv6" : "ipv4");
  }
}

export class InvalidTrustedProxyError extends Error {
  constructor(readonly entry: string) {
    super(`"${entry}" is not an IP address or CIDR range`);
    this.name = "InvalidTrustedProxyError";
  }
}
