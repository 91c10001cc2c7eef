import { toBinary, type DescEnum, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import * as v1 from "@fleetplane/gen/grpc/reflection/v1/reflection_pb";
import * as v1alpha from "@fleetplane/gen/grpc/reflection/v1alpha/reflection_pb";

/** The answer to one reflection question, independent of the protocol version. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

export type ReflectionQuestion =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/**
 * gRPC server reflection over the descriptors protobuf-es generated into
 * gen/: every file of the served services and, transitively, the files they
 * import. Files are answered with their dependencies so a client needs one
 * round trip per symbol.
 */
export class ReflectionIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly extensions = new Map<string, Map<number, DescFile>>();
  private readonly serviceNames: string[];

  constructor(services: readonly DescService[]) {
    this.serviceNames = [...new Set(services.map((s) => s.typeName))].sort();
    for (const s of services) this.addFile(s.file);
  }

  answer(q: ReflectionQuestion): ReflectionAnswer {
    switch (q.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: this.serviceNames.map((name) => ({ name })) } };
      case "fileByFilename": {
        const file = this.files.get(q.value);
        return file ? this.withDependencies(file) : notFound(`file "${q.value}" is not known to this server`);
      }
      case "fileContainingSymbol": {
        const file = this.symbols.get(q.value.replace(/^\./, ""));
        return file ? this.withDependencies(file) : notFound(`symbol "${q.value}" is not known to this server`);
      }
      case "fileContainingExtension": {
        const file = this.extensions.get(q.value.containingType)?.get(q.value.extensionNumber);
        return file ? this.withDependencies(file) : notFound(`no extension ${q.value.extensionNumber} of "${q.value.containingType}"`);
      }
      case "allExtensionNumbersOfType": {
        if (!this.symbols.has(q.value)) return notFound(`type "${q.value}" is not known to this server`);
        const numbers = [...(this.extensions.get(q.value)?.keys() ?? [])].sort((a, b) => a - b);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: q.value, extensionNumber: numbers } };
      }
      default:
        return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "the request asks nothing (set one of its message_request fields)" } };
    }
  }

  private addFile(file: DescFile): void {
    const name = file.proto.name;
    if (this.files.has(name)) return;
    this.files.set(name, file);
    for (const dep of file.dependencies) this.addFile(dep);
    for (const s of file.services) {
      this.symbols.set(s.typeName, file);
      for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, file);
    }
    const addMessage = (m: DescMessage) => {
      this.symbols.set(m.typeName, file);
      for (const f of m.fields) this.symbols.set(`${m.typeName}.${f.name}`, file);
      for (const o of m.oneofs) this.symbols.set(`${m.typeName}.${o.name}`, file);
      m.nestedMessages.forEach(addMessage);
      m.nestedEnums.forEach(addEnum);
    };
    const addEnum = (e: DescEnum) => {
      this.symbols.set(e.typeName, file);
      for (const v of e.values) this.symbols.set(`${e.typeName}.${v.name}`, file);
    };
    file.messages.forEach(addMessage);
    file.enums.forEach(addEnum);
    for (const x of file.extensions) {
      this.symbols.set(x.typeName, file);
      let byNumber = this.extensions.get(x.extendee.typeName);
      if (!byNumber) this.extensions.set(x.extendee.typeName, (byNumber = new Map()));
      byNumber.set(x.number, file);
    }
  }

  /** The file first, then everything it imports (each once). */
  private withDependencies(file: DescFile): ReflectionAnswer {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      f.dependencies.forEach(visit);
    };
    visit(file);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  }
}

const notFound = (errorMessage: string): ReflectionAnswer => ({ case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage } });

/** The reflection services v1 and v1alpha (same messages, two packages), for a fixed set of services. */
export function createReflectionServices(services: () => readonly DescService[]) {
  let index: ReflectionIndex | undefined;
  // Built on first use: by then every service is registered.
  const indexNow = () => (index ??= new ReflectionIndex([...services(), v1.ServerReflection, v1alpha.ServerReflection]));

  const v1Impl: ServiceImpl<typeof v1.ServerReflection> = {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: indexNow().answer(req.messageRequest) };
      }
    },
  };
  const v1alphaImpl: ServiceImpl<typeof v1alpha.ServerReflection> = {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: indexNow().answer(req.messageRequest) };
      }
    },
  };
  return { v1: v1Impl, v1alpha: v1alphaImpl };
}
