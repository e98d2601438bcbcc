// telemetry/internal/batch_writer_upserts.cc — the batch writer's path for Langfuse items (see
// batch_writer.h): event ids make an item apply once; items that are not `fresh` merge field by
// field into a stored row (Langfuse upsert semantics): traces in SQL, observations by a read, a
// merge and a REPLACE once an INSERT found the id taken; the rollups receive the difference
// between a generation's old and new contribution. Fresh (gateway-minted) traces and write-once
// generations join multi-row INSERTs instead. Scores are upserted by id.
#include "telemetry/internal/batch_writer.h"
#include "telemetry/internal/sqlite_rows.h"

namespace ap::telemetry::internal {
namespace {

template <typename T>
void MergeField(std::optional<T>& into, const std::optional<T>& from) {
  if (from) into = from;
}

void MergeObservation(Observation& o, const Observation& n) {
  o.type = n.type;
  if (n.start_us) o.start_us = n.start_us;
  if (n.end_us) o.end_us = n.end_us;
  if (n.completion_start_us) o.completion_start_us = n.completion_start_us;
  MergeField(o.parent_id, n.parent_id);
  MergeField(o.name, n.name);
  MergeField(o.model, n.model);
  MergeField(o.status_message, n.status_message);
  MergeField(o.version, n.version);
  MergeField(o.environment, n.environment);
  MergeField(o.level, n.level);
  MergeField(o.model_parameters, n.model_parameters);
  MergeField(o.input, n.input);
  MergeField(o.output, n.output);
  MergeField(o.metadata, n.metadata);
  MergeField(o.input_tokens, n.input_tokens);
  MergeField(o.output_tokens, n.output_tokens);
  MergeField(o.total_tokens, n.total_tokens);
  MergeField(o.cached_tokens, n.cached_tokens);
  MergeField(o.usage_details, n.usage_details);
  MergeField(o.cost_details, n.cost_details);
  MergeField(o.input_cost, n.input_cost);
  MergeField(o.output_cost, n.output_cost);
  MergeField(o.total_cost, n.total_cost);
  MergeField(o.user_id, n.user_id);
  MergeField(o.team, n.team);
  MergeField(o.key, n.key);
  MergeField(o.backend, n.backend);
  MergeField(o.status_code, n.status_code);
}

}  // namespace

bool BatchWriter::Apply(const Item& item) {
  if (!item.event_id.empty()) {
    auto s = c_.PrepareStatic("INSERT OR IGNORE INTO events(id, ts) VALUES(?, ?)");
    s.Bind(1, IdValue(item.event_id));
    s.Bind(2, now_);
    if (s.Step() != SQLITE_DONE) return false;
    if (sqlite3_changes(c_.db()) == 0) return true;  // already applied
  }
  if (auto* t = std::get_if<Trace>(&item.body)) return WriteTrace(*t, item.fresh);
  if (auto* o = std::get_if<Observation>(&item.body)) return WriteObservation(*o, item.fresh);
  return WriteScore(std::get<Score>(item.body));
}

// pk and the trace as stored, when it exists.
std::optional<std::pair<int64_t, Trace>> BatchWriter::FindTrace(int64_t project, const std::string& id) {
  static const std::string kSql =
      std::string("SELECT ") + kTraceColumns + " FROM traces t WHERE t.project=? AND t.id=?";
  auto s = c_.PrepareStatic(kSql.c_str());
  s.Bind(1, project);
  s.Bind(2, IdValue(id));
  if (s.Step() != SQLITE_ROW) return std::nullopt;
  int64_t pk;
  Trace t = ReadTrace(s, c_, &pk);
  return std::make_pair(pk, std::move(t));
}

bool BatchWriter::WriteTraceRow(int64_t pk, int64_t project, const Trace& t) {
  const std::array<Value, 14> v = {IdValue(t.id), project, t.timestamp_us, Dim(t.name), Dim(t.user_id),
                                   Dim(t.session_id), Dim(t.release), Dim(t.version), Dim(t.environment),
                                   t.tags ? Value(TagsToJson(*t.tags)) : Value(), Text(t.input),
                                   Text(t.output), Text(t.metadata),
                                   t.is_public ? Value(int64_t{*t.is_public}) : Value()};
  auto s = pk ? c_.PrepareStatic("UPDATE traces SET id=?,project=?,ts=?,name=?,user=?,session=?,release=?,"
                           "version=?,env=?,tags=?,input=?,output=?,metadata=?,public=? WHERE pk=?")
              : c_.PrepareStatic("INSERT INTO traces(" AP_TRACE_COLUMNS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.BindAll(v);
  if (pk) s.Bind(15, pk);
  if (s.Step() != SQLITE_DONE) return false;
  int64_t row = pk ? pk : sqlite3_last_insert_rowid(c_.db());
  traces_.Put(t.id, {project, row, t.user_id});
  return true;
}

// A trace whose id was never written (the gateway minted it): no conflict check and no read. It
// joins a multi-row INSERT under a pk the writer assigns, so its generation can point at it
// before the row exists. Only this connection writes, inside BEGIN IMMEDIATE.
bool BatchWriter::QueueFreshTrace(const Trace& t, int64_t project) {
  if (!next_trace_pk_) {
    auto s = c_.PrepareStatic("SELECT coalesce(max(pk), 0) + 1 FROM traces");
    if (s.Step() != SQLITE_ROW) return false;
    next_trace_pk_ = s.Int(0);
  }
  const int64_t pk = next_trace_pk_++;
  traces_.Put(t.id, {project, pk, t.user_id});
  return new_traces_.Add(c_, {pk, IdValue(t.id), project, t.timestamp_us ? t.timestamp_us : now_, Dim(t.name),
                              Dim(t.user_id), Dim(t.session_id), Dim(t.release), Dim(t.version),
                              Dim(t.environment), t.tags ? Value(TagsToJson(*t.tags)) : Value(),
                              Text(t.input), Text(t.output), Text(t.metadata),
                              t.is_public ? Value(int64_t{*t.is_public}) : Value()});
}

// New traces (the common case: one per gateway request) cost one insert; an existing one is
// merged in SQL (set fields win, as MergeTrace does) without reading the row into C++.
bool BatchWriter::WriteTrace(const Trace& t, bool fresh) {
  int64_t project = c_.Intern(t.project);
  if (fresh) return QueueFreshTrace(t, project);
  if (!FlushPending() || !ExpandRequest(project, t.id)) return false;
  // ?1…?14 are the row; ?15 says whether the item set the timestamp (the update keeps the
  // stored one otherwise).
  const std::array<Value, 15> v = {
      IdValue(t.id), project, t.timestamp_us ? t.timestamp_us : now_, Dim(t.name), Dim(t.user_id),
      Dim(t.session_id), Dim(t.release), Dim(t.version), Dim(t.environment),
      t.tags ? Value(TagsToJson(*t.tags)) : Value(), Text(t.input), Text(t.output), Text(t.metadata),
      t.is_public ? Value(int64_t{*t.is_public}) : Value(), int64_t{t.timestamp_us != 0}};
  {
    auto ins = c_.PrepareStatic(
        "INSERT INTO traces(" AP_TRACE_COLUMNS ") "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14) ON CONFLICT(project,id) DO NOTHING");
    ins.BindAll(std::span(v).first(14));
    if (ins.Step() != SQLITE_DONE) return false;
    if (sqlite3_changes(c_.db()) == 1) {
      traces_.Put(t.id, {project, sqlite3_last_insert_rowid(c_.db()), t.user_id});
      return true;
    }
  }
  // The stored row's pk and user, before the update: a user set now for the first time is
  // inherited by the generations written before it (OTLP exports children before their root).
  int64_t pk = 0, old_user = 0;
  {
    auto sel = c_.PrepareStatic("SELECT pk, user FROM traces WHERE project=? AND id=?");
    sel.Bind(1, project);
    sel.Bind(2, IdValue(t.id));
    if (sel.Step() != SQLITE_ROW) return false;
    pk = sel.Int(0);
    old_user = sel.IsNull(1) ? 0 : sel.Int(1);
  }
  auto upd = c_.PrepareStatic(
      "UPDATE traces SET ts=CASE WHEN ?15 THEN ?3 ELSE ts END, name=coalesce(?4,name), user=coalesce(?5,user), "
      "session=coalesce(?6,session), release=coalesce(?7,release), version=coalesce(?8,version), "
      "env=coalesce(?9,env), tags=coalesce(?10,tags), input=coalesce(?11,input), output=coalesce(?12,output), "
      "metadata=coalesce(?13,metadata), public=coalesce(?14,public) WHERE project=?2 AND id=?1");
  upd.BindAll(v);
  if (upd.Step() != SQLITE_DONE) return false;
  std::optional<std::string> user;
  if (old_user) {
    user = c_.Name(old_user);
  } else if (t.user_id) {
    user = t.user_id;
    if (!InheritUser(pk, project, std::get<int64_t>(v[4]))) return false;
  }
  traces_.Put(t.id, {project, pk, std::move(user)});
  return true;
}

// Gives a trace's user-less generations the trace's new user, moving their rollup counts.
bool BatchWriter::InheritUser(int64_t trace_pk, int64_t project, int64_t user) {
  if (!FlushPending()) return false;
  {
    auto s = c_.PrepareStatic(
        "SELECT start, coalesce(model,0), coalesce(team,0), coalesce(key,0), coalesce(in_tok,0), "
        "coalesce(out_tok,0), coalesce(cached_tok,0), coalesce(cost,0) FROM observations "
        "WHERE trace=? AND type=1 AND user IS NULL");
    s.Bind(1, trace_pk);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      const int64_t day = DayOf(s.Int(0)), model = s.Int(1), team = s.Int(2), key = s.Int(3);
      for (int64_t u : {int64_t{0}, user}) {
        const int sign = u ? 1 : -1;
        auto& d = rollup_[RollupKey{day, project, model, u, team, key}];
        d.n += sign;
        d.in += sign * s.Int(4);
        d.out += sign * s.Int(5);
        d.cached += sign * s.Int(6);
        d.cost += sign * s.Real(7);
      }
    }
    if (rc != SQLITE_DONE) return false;
  }
  auto upd = c_.PrepareStatic("UPDATE observations SET user=? WHERE trace=? AND type=1 AND user IS NULL");
  upd.Bind(1, user);
  upd.Bind(2, trace_pk);
  return upd.Step() == SQLITE_DONE;
}

// The trace's pk and user, creating a placeholder trace when the observation came first.
const CachedTrace* BatchWriter::TraceFor(int64_t project, const std::string& id, int64_t ts) {
  if (const CachedTrace* cached = traces_.Find(project, id)) return cached;
  if (!FlushPending()) return nullptr;
  if (auto found = FindTrace(project, id))
    return traces_.Put(id, {project, found->first, std::move(found->second.user_id)});
  if (!ExpandRequest(project, id)) return nullptr;
  if (auto found = FindTrace(project, id))
    return traces_.Put(id, {project, found->first, std::move(found->second.user_id)});
  Trace t;
  t.id = id;
  t.timestamp_us = ts ? ts : now_;
  if (!WriteTraceRow(0, project, t)) return nullptr;
  return traces_.Find(project, id);
}

// The stored observation `id` (not a write-once one), its pk in *pk; nullopt when there is none.
std::optional<Observation> BatchWriter::FindObservation(int64_t project, const std::string& id,
                                                        int64_t* pk) {
  static const std::string kSql = std::string("SELECT ") + kObservationColumns +
                                  ",t.id FROM observations o JOIN traces t ON t.pk=o.trace "
                                  "WHERE o.project=? AND o.id=? AND o.status IS NULL";
  auto s = c_.PrepareStatic(kSql.c_str());
  s.Bind(1, project);
  s.Bind(2, IdValue(id));
  if (s.Step() != SQLITE_ROW) return std::nullopt;
  return ReadObservation(s, c_, pk);
}

// An upsert (not fresh) is first tried as a new row: most are (an SDK's creates), and the
// INSERT's own uniqueness check on (project, id) finds a stored row as cheaply as a read would.
// Only when one is there is it read, merged and replaced. Observations carrying an HTTP status
// stay out of the unique index (migration 3), so they are always read first.
bool BatchWriter::WriteObservation(const Observation& n, bool fresh) {
  int64_t project = c_.Intern(n.project);
  const CachedTrace* trace = TraceFor(project, n.trace_id, n.start_us);
  if (!trace) return false;
  const int64_t trace_pk = trace->pk;
  const std::optional<std::string>* trace_user = &trace->user_id;
  int64_t pk = 0;
  std::optional<Observation> merged;
  const bool insert_first = !fresh && !n.status_code;
  if (!fresh) {
    if (!FlushPending()) return false;
    if (!insert_first) {
      if (auto stored = FindObservation(project, n.id, &pk)) {
        merged = std::move(stored);
        AddRollup(project, *merged, -1);
        MergeObservation(*merged, n);
      }
    }
  }
  if (insert_first) {
    switch (WriteObservationRow(project, trace_pk, *trace_user, n, nullptr, 0, /*new_only=*/true)) {
      case RowWrite::kFailed: return false;
      case RowWrite::kDone: return true;
      case RowWrite::kExists: break;
    }
    auto stored = FindObservation(project, n.id, &pk);
    if (!stored) return false;
    merged = std::move(stored);
    AddRollup(project, *merged, -1);
    MergeObservation(*merged, n);
  }
  return WriteObservationRow(project, trace_pk, *trace_user, n, merged ? &*merged : nullptr, pk, false) ==
         RowWrite::kDone;
}

// Writes observation `n` (or `merged`, its merge with the stored row `pk`) with its defaults
// filled in, priced, and counted in the rollups. `new_only`: only if no stored row has its id
// (kExists otherwise, nothing changed).
BatchWriter::RowWrite BatchWriter::WriteObservationRow(int64_t project, int64_t trace_pk,
                                                      const std::optional<std::string>& trace_user,
                                                      const Observation& n, Observation* merged_in, int64_t pk,
                                                      bool new_only) {
  const bool fresh_insert = !merged_in && !pk && !new_only;
  // Written as it came unless it merges with a stored row or needs a default filled in: a
  // gateway generation (fresh, complete) is never copied.
  std::optional<Observation> copy;
  Observation* merged = merged_in;
  auto edit = [&]() -> Observation& {
    if (!merged) merged = &copy.emplace(n);
    return *merged;
  };
  if (!(merged ? *merged : n).start_us) {
    auto& e = edit();
    e.start_us = e.end_us ? e.end_us : now_;
  }
  if (!(merged ? *merged : n).user_id && n.type == ObservationType::kGeneration && trace_user)
    edit().user_id = trace_user;
  if (n.type == ObservationType::kGeneration && !(merged ? *merged : n).total_cost && pricer_) pricer_(edit());
  const Observation& o = merged ? *merged : n;
  const int64_t dims[4] = {DimId(o.model), DimId(o.user_id), DimId(o.team), DimId(o.key)};
  auto dim = [](int64_t id) { return id ? Value(id) : Value(); };
  const std::array<Value, 32> v = {
      IdValue(o.id), project, trace_pk,
      o.parent_id ? IdValue(*o.parent_id) : Value(), int64_t{static_cast<int>(o.type)}, Dim(o.name),
      o.start_us, o.end_us ? Value(o.end_us - o.start_us) : Value(),
      o.completion_start_us ? Value(o.completion_start_us - o.start_us) : Value(), dim(dims[0]),
      o.level ? Value(int64_t{static_cast<int>(*o.level)}) : Value(), Text(o.status_message),
      Dim(o.version), Dim(o.environment), Text(o.model_parameters), Text(o.input), Text(o.output),
      Text(o.metadata), Num(o.input_tokens), Num(o.output_tokens), Num(o.total_tokens),
      Num(o.cached_tokens), Text(o.usage_details), Text(o.cost_details), Num(o.input_cost),
      Num(o.output_cost), Num(o.total_cost), dim(dims[1]), dim(dims[2]), dim(dims[3]), Dim(o.backend),
      o.status_code ? Value(int64_t{*o.status_code}) : Value()};
  // Write-once and borrowing only from the item: joins a multi-row INSERT.
  if (fresh_insert && !merged) {
    AddRollup(project, o, +1, dims);
    return new_observations_.Add(c_, v) ? RowWrite::kDone : RowWrite::kFailed;
  }
  auto s = pk ? c_.PrepareStatic("REPLACE INTO observations(pk," AP_OBSERVATION_COLUMNS
                                 ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
      : new_only ? c_.PrepareStatic("INSERT INTO observations(" AP_OBSERVATION_COLUMNS
                                    ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                                    " ON CONFLICT DO NOTHING")
                 : c_.PrepareStatic("INSERT INTO observations(" AP_OBSERVATION_COLUMNS
                                    ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  // The values live until Step() returns: bound in place.
  if (pk) {
    s.Bind(1, pk);
    s.BindAll(v, 2, true);
  } else {
    s.BindAll(v, 1, true);
  }
  if (s.Step() != SQLITE_DONE) return RowWrite::kFailed;
  if (new_only && sqlite3_changes(c_.db()) == 0) return RowWrite::kExists;
  AddRollup(project, o, +1, dims);
  return RowWrite::kDone;
}

bool BatchWriter::WriteScore(const Score& sc) {
  int64_t project = c_.Intern(sc.project);
  auto s = c_.PrepareStatic(
      "INSERT INTO scores(id,project,trace_id,observation_id,session_id,name,value,string_value,"
      "data_type,comment,source,ts) VALUES(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(project,id) DO UPDATE SET "
      "trace_id=excluded.trace_id, observation_id=excluded.observation_id, session_id=excluded.session_id,"
      "name=excluded.name, value=excluded.value, string_value=excluded.string_value, "
      "data_type=excluded.data_type, comment=excluded.comment, source=excluded.source, ts=excluded.ts");
  s.BindAll({IdValue(sc.id), project, IdValue(sc.trace_id),
             sc.observation_id ? IdValue(*sc.observation_id) : Value(), Text(sc.session_id),
             c_.Intern(sc.name), Num(sc.value), Text(sc.string_value), Text(sc.data_type),
             Text(sc.comment), Text(sc.source), sc.timestamp_us ? sc.timestamp_us : now_});
  return s.Step() == SQLITE_DONE;
}

}  // namespace ap::telemetry::internal
