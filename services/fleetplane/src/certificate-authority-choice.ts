import {
  CertificateAuthorityConfigError,
  createX509CertificateSigner,
  generateCertificateAuthority,
  type CsrApproval,
  type CertificateSigner,
} from "@fleetplane/agent-service";
import { UsageError, type OptionSpec, type Logger } from "@fleetplane/platform";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** How agents' certificate signing requests are handled (standalone and agent-service). */
export interface CsrSettings {
  /** PEM files of the CA that signs agents' client certificates; both or neither. */
  caCertFile?: string | undefined;
  caKeyFile?: string | undefined;
  /** DEVELOPMENT ONLY: generate (once) a CA under `<dataDir>/dev-ca` and sign with it. */
  devCa?: boolean | undefined;
  /** Default "manual": a certificate is a credential; see CsrApproval. */
  approval?: CsrApproval | undefined;
  /** Lifetime of issued certificates; default 90 days. */
  validityDays?: number | undefined;
  /** OpAMP URL offered with a certificate to agents without OpAMP connection settings of their own. */
  opampEndpoint?: string | undefined;
}

export const CSR_OPTIONS: OptionSpec[] = [
  { name: "csr-ca-cert", kind: "string", description: "PEM file of the CA certificate that signs agents' CSRs (with --csr-ca-key); unset: CSRs are refused and AcceptsConnectionSettingsRequest is not announced" },
  { name: "csr-ca-key", kind: "string", description: "PEM file of that CA's private key (PKCS#8, PKCS#1 RSA or SEC1 EC; RSA or ECDSA P-256/P-384)" },
  { name: "csr-approval", kind: "string", description: "auto: sign every valid CSR naming its sender at once; manual: wait for ApproveCertificateRequest", default: "manual" },
  { name: "csr-cert-validity-days", kind: "number", description: "Lifetime of the client certificates issued", default: "90" },
  { name: "csr-opamp-endpoint", kind: "string", description: "OpAMP URL offered with a certificate to agents that have no OpAMP connection settings (e.g. wss://opamp.example/v1/opamp); standalone default: its own OpAMP address" },
  { name: "csr-dev-ca", kind: "boolean", description: "DEVELOPMENT ONLY, never in production: generate a CA under <data-dir>/dev-ca (kept across restarts) and sign CSRs with it", default: "false" },
];

/** The CSR flags as settings. */
export function csrSettingsOf(v: Record<string, unknown>): CsrSettings {
  const approval = String(v["csr-approval"]);
  if (approval !== "auto" && approval !== "manual") throw new UsageError(`--csr-approval must be auto or manual, got "${approval}"`);
  return {
    caCertFile: v["csr-ca-cert"] === undefined ? undefined : String(v["csr-ca-cert"]),
    caKeyFile: v["csr-ca-key"] === undefined ? undefined : String(v["csr-ca-key"]),
    devCa: v["csr-dev-ca"] === true,
    approval,
    validityDays: Number(v["csr-cert-validity-days"]),
    opampEndpoint: v["csr-opamp-endpoint"] === undefined ? undefined : String(v["csr-opamp-endpoint"]),
  };
}

/**
 * The signer the settings ask for, or undefined when no CA is configured.
 * Misconfiguration stops the start-up with a message naming the flag.
 */
export async function chooseCertificateSigner(s: CsrSettings, o: { dataDir: string; logger: Logger }): Promise<CertificateSigner | undefined> {
  const validityDays = s.validityDays ?? 90;
  if (s.devCa) {
    if (s.caCertFile || s.caKeyFile) throw new UsageError("--csr-dev-ca and --csr-ca-cert/--csr-ca-key exclude each other");
    const files = await developmentCa(join(o.dataDir, "dev-ca"), o.logger);
    return createX509CertificateSigner({ caCertPem: readFileSync(files.cert, "utf8"), caKeyPem: readFileSync(files.key, "utf8"), validityDays });
  }
  if (!s.caCertFile && !s.caKeyFile) {
    o.logger.info("no CSR certificate authority (--csr-ca-cert, --csr-ca-key): agents' certificate signing requests will be refused");
    return undefined;
  }
  if (!s.caCertFile || !s.caKeyFile) throw new UsageError("--csr-ca-cert and --csr-ca-key go together: give both PEM files or neither");
  try {
    const signer = await createX509CertificateSigner({ caCertPem: readPem(s.caCertFile, "--csr-ca-cert"), caKeyPem: readPem(s.caKeyFile, "--csr-ca-key"), validityDays });
    o.logger.info({ caCert: s.caCertFile, approval: s.approval ?? "manual", validityDays }, "agents' certificate signing requests are signed by the configured CA");
    return signer;
  } catch (err) {
    if (err instanceof CertificateAuthorityConfigError) throw new UsageError(`${err.message} (--csr-ca-cert ${s.caCertFile}, --csr-ca-key ${s.caKeyFile})`);
    throw err;
  }
}

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The development CA's files, generated on first use. */
async function developmentCa(dir: string, logger: Logger): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "ca.pem");
  const key = join(dir, "ca-key.pem");
  if (!existsSync(cert) || !existsSync(key)) {
    const ca = await generateCertificateAuthority({ commonName: "Fleetplane DEVELOPMENT CA (not for production)", validityDays: 365 });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(key, ca.caKeyPem, { mode: 0o600 });
    writeFileSync(cert, ca.caCertPem);
  }
  logger.warn({ caCert: cert }, "DEVELOPMENT CA in use (--csr-dev-ca): its key sits unprotected in the data directory; never use this in production");
  return { cert, key };
}
