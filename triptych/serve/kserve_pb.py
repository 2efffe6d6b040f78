"""The KServe v2 gRPC messages, from proto/grpc_predict_v2.proto compiled into a private
descriptor pool (so it never clashes with another copy of package ``inference``, such as the
one tritonclient loads into protobuf's default pool in the same process).

The compiled FileDescriptorProto is embedded below (base64); after editing the .proto,
regenerate it with ``python -m triptych.serve.kserve_pb --regen`` (needs grpcio-tools).
"""

from __future__ import annotations

import base64
import sys
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "inference.GRPCInferenceService"
PROTO = Path(__file__).parent / "proto" / "grpc_predict_v2.proto"
_COMPILED = (
    "ChVncnBjX3ByZWRpY3RfdjIucHJvdG8SCWluZmVyZW5jZSITChFTZXJ2ZXJMaXZlUmVxdWVzdCIoChJTZXJ2ZXJMaXZl"
    "UmVzcG9uc2USEgoEbGl2ZRgBIAEoCFIEbGl2ZSIUChJTZXJ2ZXJSZWFkeVJlcXVlc3QiKwoTU2VydmVyUmVhZHlSZXNw"
    "b25zZRIUCgVyZWFkeRgBIAEoCFIFcmVhZHkiQQoRTW9kZWxSZWFkeVJlcXVlc3QSEgoEbmFtZRgBIAEoCVIEbmFtZRIY"
    "Cgd2ZXJzaW9uGAIgASgJUgd2ZXJzaW9uIioKEk1vZGVsUmVhZHlSZXNwb25zZRIUCgVyZWFkeRgBIAEoCFIFcmVhZHki"
    "FwoVU2VydmVyTWV0YWRhdGFSZXF1ZXN0ImYKFlNlcnZlck1ldGFkYXRhUmVzcG9uc2USEgoEbmFtZRgBIAEoCVIEbmFt"
    "ZRIYCgd2ZXJzaW9uGAIgASgJUgd2ZXJzaW9uEh4KCmV4dGVuc2lvbnMYAyADKAlSCmV4dGVuc2lvbnMiRAoUTW9kZWxN"
    "ZXRhZGF0YVJlcXVlc3QSEgoEbmFtZRgBIAEoCVIEbmFtZRIYCgd2ZXJzaW9uGAIgASgJUgd2ZXJzaW9uIs8CChVNb2Rl"
    "bE1ldGFkYXRhUmVzcG9uc2USEgoEbmFtZRgBIAEoCVIEbmFtZRIaCgh2ZXJzaW9ucxgCIAMoCVIIdmVyc2lvbnMSGgoI"
    "cGxhdGZvcm0YAyABKAlSCHBsYXRmb3JtEkcKBmlucHV0cxgEIAMoCzIvLmluZmVyZW5jZS5Nb2RlbE1ldGFkYXRhUmVz"
    "cG9uc2UuVGVuc29yTWV0YWRhdGFSBmlucHV0cxJJCgdvdXRwdXRzGAUgAygLMi8uaW5mZXJlbmNlLk1vZGVsTWV0YWRh"
    "dGFSZXNwb25zZS5UZW5zb3JNZXRhZGF0YVIHb3V0cHV0cxpWCg5UZW5zb3JNZXRhZGF0YRISCgRuYW1lGAEgASgJUgRu"
    "YW1lEhoKCGRhdGF0eXBlGAIgASgJUghkYXRhdHlwZRIUCgVzaGFwZRgDIAMoA1IFc2hhcGUinQgKEU1vZGVsSW5mZXJS"
    "ZXF1ZXN0Eh0KCm1vZGVsX25hbWUYASABKAlSCW1vZGVsTmFtZRIjCg1tb2RlbF92ZXJzaW9uGAIgASgJUgxtb2RlbFZl"
    "cnNpb24SDgoCaWQYAyABKAlSAmlkEkwKCnBhcmFtZXRlcnMYBCADKAsyLC5pbmZlcmVuY2UuTW9kZWxJbmZlclJlcXVl"
    "c3QuUGFyYW1ldGVyc0VudHJ5UgpwYXJhbWV0ZXJzEkUKBmlucHV0cxgFIAMoCzItLmluZmVyZW5jZS5Nb2RlbEluZmVy"
    "UmVxdWVzdC5JbmZlcklucHV0VGVuc29yUgZpbnB1dHMSUQoHb3V0cHV0cxgGIAMoCzI3LmluZmVyZW5jZS5Nb2RlbElu"
    "ZmVyUmVxdWVzdC5JbmZlclJlcXVlc3RlZE91dHB1dFRlbnNvclIHb3V0cHV0cxIsChJyYXdfaW5wdXRfY29udGVudHMY"
    "ByADKAxSEHJhd0lucHV0Q29udGVudHMazQIKEEluZmVySW5wdXRUZW5zb3ISEgoEbmFtZRgBIAEoCVIEbmFtZRIaCghk"
    "YXRhdHlwZRgCIAEoCVIIZGF0YXR5cGUSFAoFc2hhcGUYAyADKANSBXNoYXBlEl0KCnBhcmFtZXRlcnMYBCADKAsyPS5p"
    "bmZlcmVuY2UuTW9kZWxJbmZlclJlcXVlc3QuSW5mZXJJbnB1dFRlbnNvci5QYXJhbWV0ZXJzRW50cnlSCnBhcmFtZXRl"
    "cnMSOgoIY29udGVudHMYBSABKAsyHi5pbmZlcmVuY2UuSW5mZXJUZW5zb3JDb250ZW50c1IIY29udGVudHMaWAoPUGFy"
    "YW1ldGVyc0VudHJ5EhAKA2tleRgBIAEoCVIDa2V5Ei8KBXZhbHVlGAIgASgLMhkuaW5mZXJlbmNlLkluZmVyUGFyYW1l"
    "dGVyUgV2YWx1ZToCOAEa8wEKGkluZmVyUmVxdWVzdGVkT3V0cHV0VGVuc29yEhIKBG5hbWUYASABKAlSBG5hbWUSZwoK"
    "cGFyYW1ldGVycxgCIAMoCzJHLmluZmVyZW5jZS5Nb2RlbEluZmVyUmVxdWVzdC5JbmZlclJlcXVlc3RlZE91dHB1dFRl"
    "bnNvci5QYXJhbWV0ZXJzRW50cnlSCnBhcmFtZXRlcnMaWAoPUGFyYW1ldGVyc0VudHJ5EhAKA2tleRgBIAEoCVIDa2V5"
    "Ei8KBXZhbHVlGAIgASgLMhkuaW5mZXJlbmNlLkluZmVyUGFyYW1ldGVyUgV2YWx1ZToCOAEaWAoPUGFyYW1ldGVyc0Vu"
    "dHJ5EhAKA2tleRgBIAEoCVIDa2V5Ei8KBXZhbHVlGAIgASgLMhkuaW5mZXJlbmNlLkluZmVyUGFyYW1ldGVyUgV2YWx1"
    "ZToCOAEi3wUKEk1vZGVsSW5mZXJSZXNwb25zZRIdCgptb2RlbF9uYW1lGAEgASgJUgltb2RlbE5hbWUSIwoNbW9kZWxf"
    "dmVyc2lvbhgCIAEoCVIMbW9kZWxWZXJzaW9uEg4KAmlkGAMgASgJUgJpZBJNCgpwYXJhbWV0ZXJzGAQgAygLMi0uaW5m"
    "ZXJlbmNlLk1vZGVsSW5mZXJSZXNwb25zZS5QYXJhbWV0ZXJzRW50cnlSCnBhcmFtZXRlcnMSSQoHb3V0cHV0cxgFIAMo"
    "CzIvLmluZmVyZW5jZS5Nb2RlbEluZmVyUmVzcG9uc2UuSW5mZXJPdXRwdXRUZW5zb3JSB291dHB1dHMSLgoTcmF3X291"
    "dHB1dF9jb250ZW50cxgGIAMoDFIRcmF3T3V0cHV0Q29udGVudHMa0AIKEUluZmVyT3V0cHV0VGVuc29yEhIKBG5hbWUY"
    "ASABKAlSBG5hbWUSGgoIZGF0YXR5cGUYAiABKAlSCGRhdGF0eXBlEhQKBXNoYXBlGAMgAygDUgVzaGFwZRJfCgpwYXJh"
    "bWV0ZXJzGAQgAygLMj8uaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXNwb25zZS5JbmZlck91dHB1dFRlbnNvci5QYXJhbWV0"
    "ZXJzRW50cnlSCnBhcmFtZXRlcnMSOgoIY29udGVudHMYBSABKAsyHi5pbmZlcmVuY2UuSW5mZXJUZW5zb3JDb250ZW50"
    "c1IIY29udGVudHMaWAoPUGFyYW1ldGVyc0VudHJ5EhAKA2tleRgBIAEoCVIDa2V5Ei8KBXZhbHVlGAIgASgLMhkuaW5m"
    "ZXJlbmNlLkluZmVyUGFyYW1ldGVyUgV2YWx1ZToCOAEaWAoPUGFyYW1ldGVyc0VudHJ5EhAKA2tleRgBIAEoCVIDa2V5"
    "Ei8KBXZhbHVlGAIgASgLMhkuaW5mZXJlbmNlLkluZmVyUGFyYW1ldGVyUgV2YWx1ZToCOAEijQEKDkluZmVyUGFyYW1l"
    "dGVyEh8KCmJvb2xfcGFyYW0YASABKAhIAFIJYm9vbFBhcmFtEiEKC2ludDY0X3BhcmFtGAIgASgDSABSCmludDY0UGFy"
    "YW0SIwoMc3RyaW5nX3BhcmFtGAMgASgJSABSC3N0cmluZ1BhcmFtQhIKEHBhcmFtZXRlcl9jaG9pY2UiwwIKE0luZmVy"
    "VGVuc29yQ29udGVudHMSIwoNYm9vbF9jb250ZW50cxgBIAMoCFIMYm9vbENvbnRlbnRzEiEKDGludF9jb250ZW50cxgC"
    "IAMoBVILaW50Q29udGVudHMSJQoOaW50NjRfY29udGVudHMYAyADKANSDWludDY0Q29udGVudHMSIwoNdWludF9jb250"
    "ZW50cxgEIAMoDVIMdWludENvbnRlbnRzEicKD3VpbnQ2NF9jb250ZW50cxgFIAMoBFIOdWludDY0Q29udGVudHMSIwoN"
    "ZnAzMl9jb250ZW50cxgGIAMoAlIMZnAzMkNvbnRlbnRzEiMKDWZwNjRfY29udGVudHMYByADKAFSDGZwNjRDb250ZW50"
    "cxIlCg5ieXRlc19jb250ZW50cxgIIAMoDFINYnl0ZXNDb250ZW50cyKFAQoYTW9kZWxTdHJlYW1JbmZlclJlc3BvbnNl"
    "EiMKDWVycm9yX21lc3NhZ2UYASABKAlSDGVycm9yTWVzc2FnZRJECg5pbmZlcl9yZXNwb25zZRgCIAEoCzIdLmluZmVy"
    "ZW5jZS5Nb2RlbEluZmVyUmVzcG9uc2VSDWluZmVyUmVzcG9uc2Uy2QQKFEdSUENJbmZlcmVuY2VTZXJ2aWNlEksKClNl"
    "cnZlckxpdmUSHC5pbmZlcmVuY2UuU2VydmVyTGl2ZVJlcXVlc3QaHS5pbmZlcmVuY2UuU2VydmVyTGl2ZVJlc3BvbnNl"
    "IgASTgoLU2VydmVyUmVhZHkSHS5pbmZlcmVuY2UuU2VydmVyUmVhZHlSZXF1ZXN0Gh4uaW5mZXJlbmNlLlNlcnZlclJl"
    "YWR5UmVzcG9uc2UiABJLCgpNb2RlbFJlYWR5EhwuaW5mZXJlbmNlLk1vZGVsUmVhZHlSZXF1ZXN0Gh0uaW5mZXJlbmNl"
    "Lk1vZGVsUmVhZHlSZXNwb25zZSIAElcKDlNlcnZlck1ldGFkYXRhEiAuaW5mZXJlbmNlLlNlcnZlck1ldGFkYXRhUmVx"
    "dWVzdBohLmluZmVyZW5jZS5TZXJ2ZXJNZXRhZGF0YVJlc3BvbnNlIgASVAoNTW9kZWxNZXRhZGF0YRIfLmluZmVyZW5j"
    "ZS5Nb2RlbE1ldGFkYXRhUmVxdWVzdBogLmluZmVyZW5jZS5Nb2RlbE1ldGFkYXRhUmVzcG9uc2UiABJLCgpNb2RlbElu"
    "ZmVyEhwuaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXF1ZXN0Gh0uaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXNwb25zZSIAElsK"
    "EE1vZGVsU3RyZWFtSW5mZXISHC5pbmZlcmVuY2UuTW9kZWxJbmZlclJlcXVlc3QaIy5pbmZlcmVuY2UuTW9kZWxTdHJl"
    "YW1JbmZlclJlc3BvbnNlIgAoATABYgZwcm90bzM="
)

_POOL = descriptor_pool.DescriptorPool()
_POOL.AddSerializedFile(base64.b64decode(_COMPILED))


def message(name: str) -> Any:
    """The message class ``inference.<name>``."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"inference.{name}"))


ServerLiveRequest = message("ServerLiveRequest")
ServerLiveResponse = message("ServerLiveResponse")
ServerReadyRequest = message("ServerReadyRequest")
ServerReadyResponse = message("ServerReadyResponse")
ModelReadyRequest = message("ModelReadyRequest")
ModelReadyResponse = message("ModelReadyResponse")
ServerMetadataRequest = message("ServerMetadataRequest")
ServerMetadataResponse = message("ServerMetadataResponse")
ModelMetadataRequest = message("ModelMetadataRequest")
ModelMetadataResponse = message("ModelMetadataResponse")
ModelInferRequest = message("ModelInferRequest")
ModelInferResponse = message("ModelInferResponse")
ModelStreamInferResponse = message("ModelStreamInferResponse")

#: RPC name -> (request class, response class)
RPCS: dict[str, tuple[Any, Any]] = {
    "ServerLive": (ServerLiveRequest, ServerLiveResponse),
    "ServerReady": (ServerReadyRequest, ServerReadyResponse),
    "ModelReady": (ModelReadyRequest, ModelReadyResponse),
    "ServerMetadata": (ServerMetadataRequest, ServerMetadataResponse),
    "ModelMetadata": (ModelMetadataRequest, ModelMetadataResponse),
    "ModelInfer": (ModelInferRequest, ModelInferResponse),
}


def _regen() -> None:  # pragma: no cover - a developer tool
    from grpc_tools import protoc  # grpcio-tools: only this developer tool needs it

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.desc"
        args = ["protoc", f"-I{PROTO.parent}", f"--descriptor_set_out={out}", PROTO.name]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    print(base64.b64encode(files[0].SerializeToString()).decode())


if __name__ == "__main__" and "--regen" in sys.argv:
    _regen()
