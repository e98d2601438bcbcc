// telemetry/internal/batch_writer.cc — the end of a batch: the queued multi-row INSERTs and the
// rollups (see batch_writer.h). The daily rollup receives the difference between a generation's
// old and new contribution, so it stays exact under updates; the per-minute rollup
// (minute_rollup.h) is built from the same deltas.
#include "telemetry/internal/batch_writer.h"

namespace ap::telemetry::internal {

BatchWriter::BatchWriter(Conn& c, const Store::Pricer& pricer, SqliteStore::TraceSlots& traces, EventFilter& events,
                         BlockScratch& scratch)
    : c_(c), pricer_(pricer), traces_(traces), events_(events), scratch_(scratch) {
  ++traces_.batch;
  scratch_.request_rows.clear();  // a failed batch may have left rows naming its records
}

std::string InsertSql(const char* table_columns, size_t columns, size_t rows) {
  std::string sql = std::string("INSERT OR FAIL INTO ") + table_columns + " VALUES";
  for (size_t r = 0; r < rows; ++r) {
    sql += r ? ",(" : "(";
    for (size_t c = 0; c < columns; ++c) sql += c ? ",?" : "?";
    sql += ")";
  }
  return sql;
}

// Inserts the queued fresh traces and generations. Runs before anything in the batch reads or
// updates traces or observations, and at the end of the batch. The next fresh trace reads
// max(pk) again: the caller may insert a trace without a pk next.
bool BatchWriter::FlushPending() {
  next_trace_pk_ = 0;
  return new_traces_.Flush(c_) && new_observations_.Flush(c_) && new_requests_.Flush(c_) && FlushRequestRows();
}

bool BatchWriter::FlushRollup() {
  for (const auto& [k, d] : rollup_) {
    if (d.n == 0 && d.in == 0 && d.out == 0 && d.cached == 0 && d.cost == 0) continue;
    auto s = c_.PrepareStatic(
        "INSERT INTO usage_daily VALUES(?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
        "n=n+excluded.n, in_tok=in_tok+excluded.in_tok, out_tok=out_tok+excluded.out_tok, "
        "cached=cached+excluded.cached, cost=cost+excluded.cost");
    auto [day, project, model, user, team, key] = k;
    s.BindAll({day, project, model, user, team, key, d.n, d.in, d.out, d.cached, d.cost});
    if (s.Step() != SQLITE_DONE) return false;
  }
  return FlushMinuteRollup();
}

// The per-minute rollup (the dashboard's time series), from the same deltas.
bool BatchWriter::FlushMinuteRollup() {
  for (const auto& [k, series] : minute_.totals()) {
    const MinuteRollup::Totals& t = series.totals;
    if (t.n == 0 && t.errors == 0 && t.in == 0 && t.out == 0 && t.cost == 0) continue;
    auto s = c_.Prepare(
        "INSERT INTO usage_minute VALUES(?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n=n+excluded.n, "
        "errors=errors+excluded.errors, in_tok=in_tok+excluded.in_tok, out_tok=out_tok+excluded.out_tok, "
        "cost=cost+excluded.cost");
    auto [minute, project, model] = k;
    s.BindAll({minute, project, model, t.n, t.errors, t.in, t.out, t.cost});
    if (s.Step() != SQLITE_DONE) return false;
  }
  for (const auto& [k, n] : minute_.histogram()) {
    if (n == 0) continue;
    auto s = c_.Prepare("INSERT INTO latency_minute VALUES(?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n=n+excluded.n");
    auto [minute, project, model, kind, bucket] = k;
    s.BindAll({minute, project, model, int64_t{kind}, int64_t{bucket}, n});
    if (s.Step() != SQLITE_DONE) return false;
  }
  return true;
}

// `dims`: the interned model, user, team and key when the caller has them already.
void BatchWriter::AddRollup(int64_t project, const Observation& o, int sign, const int64_t* dims) {
  if (o.type != ObservationType::kGeneration) return;
  RollupKey k = dims ? RollupKey{DayOf(o.start_us), project, dims[0], dims[1], dims[2], dims[3]}
                     : RollupKey{DayOf(o.start_us), project, DimId(o.model), DimId(o.user_id), DimId(o.team),
                                 DimId(o.key)};
  minute_.Add(project, std::get<2>(k), o, sign);
  auto& d = rollup_[k];
  d.n += sign;
  d.in += sign * o.input_tokens.value_or(0);
  d.out += sign * o.output_tokens.value_or(0);
  d.cached += sign * o.cached_tokens.value_or(0);
  d.cost += sign * o.total_cost.value_or(0);
}

}  // namespace ap::telemetry::internal
