import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import { CommandService } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { ReflectionIndex, type ReflectionAnswer } from "./grpc-reflection.js";

const index = new ReflectionIndex([AgentService, CommandService]);
const fileNames = (a: ReflectionAnswer) => (a.case === "fileDescriptorResponse" ? a.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name) : a);

describe("the reflection index", () => {
  it("lists the served services, sorted", () => {
    expect(index.answer({ case: "listServices", value: "" })).toEqual({
      case: "listServicesResponse",
      value: { service: [{ name: "fleetplane.agent.v1.AgentService" }, { name: "fleetplane.command.v1.CommandService" }] },
    });
  });

  it("answers a symbol with its file first and every file it imports, transitively, once", () => {
    const names = fileNames(index.answer({ case: "fileContainingSymbol", value: "fleetplane.agent.v1.AgentService.SetRemoteConfig" })) as string[];
    expect(names[0]).toBe("fleetplane/agent/v1/agent_service.proto");
    expect(names).toEqual(expect.arrayContaining(["fleetplane/agent/v1/agent.proto", "opamp/proto/opamp.proto", "opamp/proto/anyvalue.proto", "google/protobuf/timestamp.proto"]));
    expect(new Set(names).size).toBe(names.length);
  });

  it("finds messages, nested enums, enum values and fields, with or without a leading dot", () => {
    for (const symbol of ["opamp.proto.v1.AgentToServer", ".opamp.proto.v1.AgentToServer", "opamp.proto.v1.AgentCapabilities", "fleetplane.agent.v1.Agent.revision", "fleetplane.agent.v1.RemoteConfigState.REMOTE_CONFIG_STATE_APPLIED"]) {
      expect(index.answer({ case: "fileContainingSymbol", value: symbol }).case, symbol).toBe("fileDescriptorResponse");
    }
    expect((fileNames(index.answer({ case: "fileByFilename", value: "opamp/proto/opamp.proto" })) as string[])[0]).toBe("opamp/proto/opamp.proto");
  });

  it("answers NOT_FOUND for unknown files, symbols and extensions, and INVALID_ARGUMENT for an empty question", () => {
    for (const q of [
      { case: "fileContainingSymbol" as const, value: "no.such.Thing" },
      { case: "fileByFilename" as const, value: "nope.proto" },
      { case: "fileContainingExtension" as const, value: { containingType: "opamp.proto.v1.AgentToServer", extensionNumber: 1000 } },
      { case: "allExtensionNumbersOfType" as const, value: "no.Such" },
    ]) {
      const a = index.answer(q);
      expect(a.case === "errorResponse" && a.value.errorCode).toBe(Code.NotFound);
    }
    expect(index.answer({ case: "allExtensionNumbersOfType", value: "opamp.proto.v1.AgentToServer" })).toEqual({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "opamp.proto.v1.AgentToServer", extensionNumber: [] },
    });
    const empty = index.answer({ case: undefined });
    expect(empty.case === "errorResponse" && empty.value.errorCode).toBe(Code.InvalidArgument);
  });
});
