import { readFileSync, unwatchFile, watchFile } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import type { Logger } from "@fleetplane/platform";

/** A certificate and its private key, both PEM files. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** Reads the pair once (a start-up error names the file). */
export function readTlsFiles(files: TlsFiles): SecureContextOptions {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

/**
 * Calls `apply` with the pair again whenever either file changes, so a
 * renewed certificate (cert-manager, a mounted Secret) is served without a
 * restart. Polling (`watchFile`) rather than `fs.watch`: Kubernetes replaces
 * mounted files by swapping a symlink, which inotify on the file misses. A
 * half-written pair (the key changed before the certificate) fails to load;
 * the old one stays until the next change. Returns the stop function.
 */
export function watchTlsFiles(files: TlsFiles, apply: (context: SecureContextOptions) => void, logger: Logger, intervalMs = 1_000): () => void {
  const reload = () => {
    try {
      apply(readTlsFiles(files));
      logger.info({ certFile: files.certFile }, "TLS certificate reloaded");
    } catch (err) {
      logger.warn({ err, certFile: files.certFile, keyFile: files.keyFile }, "TLS certificate change not applied (keeping the previous one)");
    }
  };
  const onChange = (now: { mtimeMs: number }, before: { mtimeMs: number }) => {
    if (now.mtimeMs !== before.mtimeMs) reload();
  };
  watchFile(files.certFile, { interval: intervalMs }, onChange);
  watchFile(files.keyFile, { interval: intervalMs }, onChange);
  return () => {
    unwatchFile(files.certFile, onChange);
    unwatchFile(files.keyFile, onChange);
  };
}
