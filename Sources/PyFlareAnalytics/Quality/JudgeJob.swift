import AsyncHTTPClient
import Foundation
import GRDB
import Logging
import NIOCore
import NIOHTTP1
public import PyFlareModel
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// LLM-as-judge: sends a sample of the LLM spans that arrived since the last run to an
/// OpenAI-compatible chat-completions endpoint with each configured evaluator's prompt, and
/// records the verdicts in `evaluations` (source `judge`). A span is judged once per
/// evaluator; a run stops at `maxCallsPerRun` (the next run goes on from where it stopped)
/// and at the daily spend cap (spans of the rest of the day are not judged). Every judge
/// call is traced as a span of `serviceName`, so it is costed and counted like any other call.
public struct JudgeJob: AnalyticsJob {
    public let name = "llm_judge"
    public let schedule: JobSchedule
    public let outputTable: String? = "evaluations"
    let settings: JudgeSettings
    let pricing: @Sendable (String) -> ModelPrice?
    /// Takes an OTLP `ExportTraceServiceRequest` (protobuf) of the judge's own spans.
    let tracer: (@Sendable ([UInt8]) async -> Void)?

    public init(schedule: JobSchedule = .every(seconds: 300), settings: JudgeSettings,
                pricing: @escaping @Sendable (String) -> ModelPrice?, tracer: (@Sendable ([UInt8]) async -> Void)?) {
        self.schedule = schedule
        self.settings = settings
        self.pricing = pricing
        self.tracer = tracer
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        guard let url = settings.chatCompletionsURL else { return JobOutcome(rows: 0) }
        let (pending, position) = try await JobInput.pendingRecords([.spans], job: name, context)
        guard let pending else { return JobOutcome(rows: 0, position: position) }
        let dayStart = TimeBucket.floor(context.now, UnixTime.day)
        let (judged, spentToday) = try await context.pool.read { db in
            let judged = try Row.fetchAll(db, sql: """
                SELECT span_id, name FROM evaluations WHERE source = 'judge' AND time_ns >= ? AND time_ns < ?
                """, arguments: [pending.lowerBound, pending.upperBound]).map { "\($0[0] as String? ?? "")/\($0[1] as String)" }
            let spent = try Int64.fetchOne(db, sql: "SELECT coalesce(sum(cost_micros), 0) FROM evaluations WHERE source = 'judge' AND created_ns >= ?",
                                           arguments: [dayStart]) ?? 0
            return (Set(judged), spent)
        }
        let capMicros = settings.maxDailySpendUSD > 0 ? Int64(settings.maxDailySpendUSD * 1e6) : .max
        var spent = spentToday, calls = 0
        var cutShort = false
        judging: for (candidate, documents) in try await candidates(in: pending, context) {
            let evaluators = settings.evaluators.filter { !judged.contains("\(candidate.spanID)/\($0.name)") }
            guard !evaluators.isEmpty, let common = Self.commonValues(candidate, documents: documents) else { continue }
            for evaluator in evaluators {
                guard spent < capMicros else {
                    context.logger.warning("judge spend cap reached for today", metadata: [
                        "spent_usd": "\(Double(spent) / 1e6)", "cap_usd": "\(settings.maxDailySpendUSD)"])
                    break judging
                }
                guard calls < settings.maxCallsPerRun else {
                    cutShort = true
                    break judging
                }
                guard let values = Self.values(for: evaluator, candidate, common: common) else { continue }
                calls += 1
                let record = await judge(candidate, evaluator: evaluator, values: values, url: url, logger: context.logger)
                spent += record.costMicros
                // Saved one at a time: a verdict paid for is never judged again, even if the run stops.
                try await context.pool.write { db in try EvaluationRecord.insert([record], db) }
            }
        }
        // Cut short by the call cap, the position stays, and the next run judges what is left.
        return JobOutcome(rows: calls, window: pending, position: cutShort ? nil : position)
    }

    /// The sampled LLM spans of `range` that pass the filters, in start order, each with the
    /// documents its trace retrieved. The sample is drawn from the promoted columns, so only
    /// the chosen spans' traces have their attributes decoded.
    func candidates(in range: Range<Int64>, _ context: JobContext) async throws -> [(EvaluatedSpan, [String])] {
        let result = try await context.engine.run("""
            SELECT trace_id, span_id, service, model, operation FROM spans
            WHERE start_time_ns >= :start AND start_time_ns < :end AND ai_kind = 'llm'
            """, parameters: .named(["start": .integer(range.lowerBound), "end": .integer(range.upperBound)]),
            limits: context.settings.jobLimits)
        var chosen = Set<String>(), traces = Set<String>()
        for row in result.rows {
            guard let traceID = row[0].string, let spanID = row[1].string,
                  settings.selects(spanID: spanID, service: row[2].string, model: row[3].string, operation: row[4].string) else { continue }
            chosen.insert(spanID)
            traces.insert(traceID)
        }
        guard !chosen.isEmpty else { return [] }
        var candidates: [EvaluatedSpan] = [], documents: [String: [String]] = [:]
        for span in try await EvaluatedSpan.read(range, kinds: ["llm", "retriever"], traces: traces, context) {
            if span.kind == "retriever" {
                documents[span.traceID, default: []] += span.text.documents
            } else if chosen.contains(span.spanID) {
                candidates.append(span)
            }
        }
        return candidates.sorted { $0.start < $1.start }.map { ($0, documents[$0.traceID] ?? []) }
    }

    /// The template values every evaluator of a span shares (input, output, context), or nil
    /// when the span has no output to judge. The context is the span's documents and its
    /// trace's, else its input.
    static func commonValues(_ candidate: EvaluatedSpan, documents traceDocuments: [String]) -> [String: String]? {
        guard let output = candidate.text.output else { return nil }
        let input = candidate.text.input ?? ""
        let documents = candidate.text.documents + traceDocuments
        let context = documents.isEmpty ? input : documents.enumerated().map { "[\($0 + 1)] \($1)" }.joined(separator: "\n\n")
        return ["input": input, "output": output, "context": context]
    }

    /// The template's values, or nil when the span lacks what the evaluator needs.
    static func values(for evaluator: JudgeSettings.Evaluator, _ candidate: EvaluatedSpan, common: [String: String]) -> [String: String]? {
        var values = common
        switch evaluator.kind {
        case .hallucination: break
        case .reference:
            guard let key = evaluator.defaultAttribute, let reference = candidate.text.value(key) else { return nil }
            values["reference"] = reference
        case .pairwise:
            guard let key = evaluator.defaultAttribute, let baseline = candidate.text.value(key) else { return nil }
            values["baseline"] = baseline
        }
        return values
    }

    // MARK: - Calling the judge

    struct Reply {
        var content: String
        var inputTokens: Int64
        var outputTokens: Int64
        var responseModel: String?
    }

    enum CallError: Error, CustomStringConvertible {
        case status(UInt, body: String, retryAfter: Double?)
        case malformed(String)

        var description: String {
            switch self {
            case .status(let code, let body, _): "HTTP \(code): \(body.prefix(200))"
            case .malformed(let why): "malformed reply: \(why)"
            }
        }

        var retryable: Bool {
            if case .status(let code, _, _) = self { return code == 429 || code >= 500 || code == 408 }
            return false
        }
    }

    func judge(_ candidate: EvaluatedSpan, evaluator: JudgeSettings.Evaluator, values: [String: String], url: String,
               logger: Logger) async -> EvaluationRecord {
        let prompt = JudgePrompt.render(evaluator.prompt, values: values)
        let started = UnixTime.nowNanoseconds()
        var verdict: JudgeVerdict
        var reply: Reply?
        var failure: String?
        var backoff = settings.firstBackoffSeconds
        var attempt = 0
        while true {
            attempt += 1
            do {
                reply = try await call(url: url, prompt: prompt)
                failure = nil
                break
            } catch {
                failure = "\(error)"
                let callError = error as? CallError
                let retryable = callError?.retryable ?? true  // network errors and timeouts are retried
                guard retryable, attempt < settings.attempts else { break }
                var wait = backoff
                if case .status(_, _, let retryAfter?)? = callError { wait = min(max(retryAfter, backoff), 60) }
                logger.info("judge call failed, retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)", "wait_s": "\(wait)"])
                try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                backoff *= 2
            }
        }
        let ended = UnixTime.nowNanoseconds()
        if let reply {
            verdict = JudgeVerdict.parse(reply.content)
        } else {
            verdict = .error("judge call failed after \(attempt) attempts: \(failure ?? "?")")
            logger.warning("judge call failed", metadata: ["span_id": "\(candidate.spanID)", "error": "\(failure ?? "?")"])
        }
        let usage = TokenUsage(input: reply?.inputTokens ?? 0, output: reply?.outputTokens ?? 0)
        // At the price of the model that answered, else of the model asked for.
        let cost = (reply?.responseModel.flatMap(pricing) ?? pricing(settings.model))?.costMicros(usage) ?? 0
        await trace(candidate, evaluator: evaluator, verdict: verdict, reply: reply, failure: failure, start: started, end: ended)
        var details = JSONWriter()
        details.raw("{")
        details.member("hallucination", verdict.hallucination)
        details.member("factual_error", verdict.factualError)
        details.member("contradiction", verdict.contradiction)
        details.member("unsupported_claim", verdict.unsupportedClaim)
        details.member("unsupported_claims", verdict.unsupportedClaims)
        details.member("preferred", verdict.preferred)
        details.member("kind", evaluator.kind.rawValue)
        details.member("attempts", attempt)
        details.member("input_tokens", usage.input)
        details.member("output_tokens", usage.output)
        details.raw("}")
        return EvaluationRecord(
            time: candidate.start, name: evaluator.name, source: .judge, evaluator: settings.model, of: candidate.subject,
            score: verdict.score, label: verdict.outcome.rawValue, explanation: verdict.explanation,
            passed: verdict.outcome == .pass ? true : verdict.outcome == .fail ? false : nil,
            details: String(decoding: details.bytes, as: UTF8.self), costMicros: cost)
    }

    func call(url: String, prompt: String) async throws -> Reply {
        var body = JSONWriter()
        body.raw("{")
        body.member("model", settings.model)
        body.raw(#","temperature":0,"messages":[{"role":"user","content":"#)
        body.string(prompt)
        body.raw("}]}")
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "pyflare")
        if let key = settings.apiKey, !key.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(bytes: body.bytes))
        let timeout = TimeAmount.milliseconds(Int64(settings.timeoutSeconds * 1000))
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = Array(buffer: try await response.body.collect(upTo: 4 << 20))
        guard (200..<300).contains(response.status.code) else {
            let retryAfter = response.headers.first(name: "Retry-After").flatMap { Double($0) }
            throw CallError.status(response.status.code, body: String(decoding: bytes, as: UTF8.self), retryAfter: retryAfter)
        }
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch { throw CallError.malformed("the body is not JSON: \(error)") }
        guard case .array(let choices)? = json["choices"], let content = choices.first?["message"]?["content"]?.text else {
            throw CallError.malformed("no choices[0].message.content")
        }
        let usage = json["usage"]
        return Reply(content: content, inputTokens: Int64(usage?["prompt_tokens"]?.number ?? 0),
                     outputTokens: Int64(usage?["completion_tokens"]?.number ?? 0), responseModel: json["model"]?.text)
    }

    /// The judge call as a GenAI client span linked to the span it judged.
    func trace(_ candidate: EvaluatedSpan, evaluator: JudgeSettings.Evaluator, verdict: JudgeVerdict, reply: Reply?,
               failure: String?, start: Int64, end: Int64) async {
        guard let tracer else { return }
        var attributes: [(String, AttributeValue)] = [
            ("gen_ai.operation.name", .string("chat")), ("gen_ai.provider.name", .string("openai")),
            ("gen_ai.request.model", .string(settings.model)),
            ("gen_ai.usage.input_tokens", .int(reply?.inputTokens ?? 0)), ("gen_ai.usage.output_tokens", .int(reply?.outputTokens ?? 0)),
            ("pyflare.evaluation.name", .string(evaluator.name)), ("pyflare.evaluation.outcome", .string(verdict.outcome.rawValue)),
            ("pyflare.evaluation.span_id", .string(candidate.spanID)),
        ]
        if let model = reply?.responseModel { attributes.append(("gen_ai.response.model", .string(model))) }
        let request = OTLPEnvelope.request([candidate], scope: "pyflare.judge", service: { _ in settings.serviceName }) { candidate, span in
            span.traceIDField(1, TraceID(high: .random(in: 1...UInt64.max), low: .random(in: 1...UInt64.max)))
            span.spanIDField(2, .random(in: 1...UInt64.max))
            span.stringField(5, "chat \(settings.model)")
            span.varintField(6, 3)  // SPAN_KIND_CLIENT
            span.fixed64Field(7, UInt64(max(0, start)))
            span.fixed64Field(8, UInt64(max(start, end)))
            for (key, value) in attributes { span.keyValueField(9, key: key, value: value) }
            if let traceID = Hex.parseTraceID(candidate.traceID), let spanID = Hex.parseSpanID(candidate.spanID) {
                span.messageField(13) { link in
                    link.traceIDField(1, traceID)
                    link.spanIDField(2, spanID)
                }
            }
            if let failure {
                span.messageField(15) { status in
                    status.stringField(2, failure)
                    status.varintField(3, 2)  // STATUS_CODE_ERROR
                }
            }
        }
        await tracer(request)
    }
}
