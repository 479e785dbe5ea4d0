"""Attribute names: the `pyflare.*` conventions and the OpenTelemetry GenAI names PyFlare normalizes.

The server derives its columns (model, provider, tokens, cost, user, session, feature,
environment) from these keys; `docs/normalization.md` in the server repository lists the order in
which it tries them. The SDK writes the OpenTelemetry GenAI names first (they are what every other
tool reads too) and the `pyflare.*` names where GenAI has none.
"""

from __future__ import annotations

# -- pyflare.* -------------------------------------------------------------------------------
MODEL_ID = "pyflare.model.id"
MODEL_PROVIDER = "pyflare.model.provider"
MODEL_VERSION = "pyflare.model.version"
INFERENCE_TYPE = "pyflare.inference.type"

TOKENS_INPUT = "pyflare.tokens.input"
TOKENS_OUTPUT = "pyflare.tokens.output"
TOKENS_TOTAL = "pyflare.tokens.total"
TOKENS_CACHED = "pyflare.tokens.cached"
TOKENS_CACHE_WRITE = "pyflare.tokens.cache_write"
TOKENS_REASONING = "pyflare.tokens.reasoning"

COST_MICROS = "pyflare.cost.micros"
COST_USD = "pyflare.cost.usd"

USER_ID = "pyflare.user.id"
SESSION_ID = "pyflare.session.id"
FEATURE = "pyflare.feature"
ENVIRONMENT = "pyflare.environment"
PROJECT = "pyflare.project"

# Previews of a traced function's arguments and result (@pyflare.trace).
INPUT_PREVIEW = "pyflare.input.preview"
OUTPUT_PREVIEW = "pyflare.output.preview"
# Names of the tools a model response asked to call (names only: no content).
TOOL_CALL_NAMES = "pyflare.response.tool_calls"
# Number of chunks a streamed response arrived in.
STREAM_CHUNKS = "pyflare.stream.chunks"

# Quality: pyflare.quality.NAME holds a score (number), verdict (bool) or label (str);
# pyflare.quality.NAME.score / .label / .passed / .explanation fill the parts of one result.
QUALITY_PREFIX = "pyflare.quality."

# RAG: what a retrieval step fetched.
RAG_QUERY = "gen_ai.retrieval.query.text"
RAG_DOCUMENTS = "gen_ai.retrieval.documents"  # JSON array of {"id", "content", "score"}
RAG_DOCUMENT_COUNT = "pyflare.rag.documents.count"
RAG_DOCUMENT_IDS = "pyflare.rag.documents.ids"
RAG_TOP_SCORE = "pyflare.rag.top_score"
RAG_RETRIEVER = "pyflare.rag.retriever"

EMBEDDING_VECTOR = "pyflare.embedding.vector"
EMBEDDING_MODEL = "pyflare.embedding.model"
EMBEDDING_DIMENSIONS = "pyflare.embedding.dimensions"

# -- OpenTelemetry GenAI (semantic conventions, gen_ai.*) -------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # the deprecated name of gen_ai.provider.name, still read
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"  # includes cached reads and cache writes
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# GenAI client metrics.
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"

# gen_ai.operation.name values.
OPERATION_CHAT = "chat"
OPERATION_TEXT_COMPLETION = "text_completion"
OPERATION_EMBEDDINGS = "embeddings"
OPERATION_RETRIEVAL = "retrieval"
OPERATION_EXECUTE_TOOL = "execute_tool"
OPERATION_INVOKE_AGENT = "invoke_agent"

# -- identity and deployment (general OpenTelemetry conventions) ------------------------------
USER = "user.id"
SESSION = "session.id"
APP_FEATURE = "app.feature"
DEPLOYMENT_ENVIRONMENT = "deployment.environment.name"
SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"

__all__ = [name for name in dir() if name.isupper()]
