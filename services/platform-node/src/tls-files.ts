import { readFileSync, unwatchFile, watchFile } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import type { Logger } from "@fleetplane/platform";

/** A certificate and its private key, both PEM files; optionally the CAs client certificates are verified with (mTLS). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** PEM CA certificate(s) that sign the clients' certificates; unset: no client certificate is asked for. */
  clientCaFile?: string | undefined;
}

/** Reads the files once (a start-up error names the file). */
export function readTlsFiles(files: TlsFiles): SecureContextOptions {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), ...(files.clientCaFile ? { ca: readFileSync(files.clientCaFile) } : {}) };
}

/**
 * Calls `apply` with the files again whenever one of them changes, so a
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
  const watched = [files.certFile, files.keyFile, ...(files.clientCaFile ? [files.clientCaFile] : [])];
  for (const file of watched) watchFile(file, { interval: intervalMs }, onChange);
  return () => {
    for (const file of watched) unwatchFile(file, onChange);
  };
}
