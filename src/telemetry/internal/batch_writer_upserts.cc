// telemetry/internal/batch_writer_upserts.cc — the batch writer's path for Langfuse items (see
// batch_writer.h): event ids make an item apply once; items that are not `fresh` merge field by
// field into a stored row (Langfuse upsert semantics): traces in SQL, observations by a read, a
// merge and an UPDATE once an INSERT found the id taken; the rollups receive the difference
// between a generation's old and new contribution. Fresh (gateway-minted) traces and write-once
// generations join multi-row INSERTs instead. Scores are upserted by id.
//
// Event ids (migration 9): an event that creates its trace or observation is recorded in the
// row it created (`event` column), so the common case — an SDK's creates — costs no B-tree of
// its own; any other event goes to the `events` table. Exact, by two invariants:
//  - an id in a row lives at least as long as an `events` row would: it is only written there
//    when retention cannot delete the row first (its trace's UTC day is not before the day the
//    event arrived), and copied into `events` before anything could change that (the trace's
//    time moving to an earlier day, the observation moving to another trace or leaving the
//    unique id index);
//  - the EventFilter holds every id in `events`.
// So an event the filter does not hold was either never applied, or created the object it
// names, which still exists and carries its id: the INSERT that tries it as a new row finds
// the row and the id in it. One the filter may hold takes the old path: `events` first.
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

// The ids of the updates an observation's row keeps (`events` column): each one byte of length
// and its bytes. A few at most (kEventsInRow): a row updated more often sends the rest to
// `events`, so rows do not grow without bound.
constexpr size_t kEventsInRow = 4;

template <typename F>
void ForEachListed(std::string_view list, F f) {
  for (size_t i = 0; i < list.size() && i + 1 + static_cast<unsigned char>(list[i]) <= list.size();
       i += 1 + static_cast<unsigned char>(list[i]))
    f(list.substr(i + 1, static_cast<unsigned char>(list[i])));
}

bool Listed(std::string_view list, std::string_view id) {
  bool found = false;
  ForEachListed(list, [&](std::string_view e) { found = found || e == id; });
  return found;
}

size_t ListedCount(std::string_view list) {
  size_t n = 0;
  ForEachListed(list, [&](std::string_view) { ++n; });
  return n;
}

}  // namespace

// Records `event` in the `events` table: kSeen when it was there already (applied before).
BatchWriter::EventSeen BatchWriter::RecordEvent(const std::string& event) {
  auto s = c_.PrepareStatic("INSERT OR IGNORE INTO events(id, ts) VALUES(?, ?)");
  s.Bind(1, IdValue(event));
  s.Bind(2, now_);
  if (s.Step() != SQLITE_DONE) return EventSeen::kFailed;
  if (sqlite3_changes(c_.db()) == 0) return EventSeen::kSeen;
  return events_.Add(c_, event) ? EventSeen::kNew : EventSeen::kFailed;
}

// Whether an event id kept in a row deleted with a trace of time `row_ts` lives at least as long
// as its `events` row would: retention deletes both by whole UTC days, events by the day they
// arrived.
bool BatchWriter::EventFitsRow(int64_t row_ts) const { return row_ts && DayOf(row_ts) >= DayOf(now_); }

// The event ids kept in trace `trace_pk`'s row and its observations' rows, copied into `events`
// (as arriving now, which is no earlier than they did): the trace is about to move to an
// earlier day, and retention would delete them with it.
bool BatchWriter::KeepTraceEvents(int64_t trace_pk) {
  if (!FlushPending()) return false;
  return KeepEvents(
      "SELECT event, NULL FROM traces WHERE pk=?1 AND event IS NOT NULL UNION ALL "
      "SELECT event, events FROM observations WHERE trace=?1 AND (event IS NOT NULL OR events IS NOT NULL)",
      trace_pk);
}

// The same for one observation about to move to another trace or out of the unique id index.
bool BatchWriter::KeepObservationEvent(int64_t pk) {
  return KeepEvents("SELECT event, events FROM observations WHERE pk=?1", pk);
}

// Records in `events` the ids that `sql` (bound to `pk`) reads: a create's id and a list of
// updates' ids per row.
bool BatchWriter::KeepEvents(const char* sql, int64_t pk) {
  std::vector<std::string> ids;
  {
    auto s = c_.PrepareStatic(sql);
    s.Bind(1, pk);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      if (!s.IsNull(0)) ids.push_back(s.Id(0));
      ForEachListed(s.Text(1), [&](std::string_view id) { ids.emplace_back(id); });
    }
    if (rc != SQLITE_DONE) return false;
  }
  for (const auto& id : ids)
    if (RecordEvent(id) == EventSeen::kFailed) return false;
  return true;
}

bool BatchWriter::Apply(const Item& item) {
  if (!item.event_id.empty() && !item.fresh && !events_.MayContain(item.event_id)) {
    // Traces and observations keep the id of the event that created them in their row.
    if (auto* t = std::get_if<Trace>(&item.body)) return WriteTrace(*t, false, &item.event_id);
    if (auto* o = std::get_if<Observation>(&item.body); o && !o->status_code)
      return WriteObservation(*o, false, &item.event_id);
  }
  if (!item.event_id.empty()) {
    switch (RecordEvent(item.event_id)) {
      case EventSeen::kFailed: return false;
      case EventSeen::kSeen: return true;  // already applied
      case EventSeen::kNew: break;
    }
  }
  if (auto* t = std::get_if<Trace>(&item.body)) return WriteTrace(*t, item.fresh, nullptr);
  if (auto* o = std::get_if<Observation>(&item.body)) return WriteObservation(*o, item.fresh, nullptr);
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
  traces_.Put(t.id, {project, row, t.user_id, t.timestamp_us});
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
  const int64_t ts = t.timestamp_us ? t.timestamp_us : now_;
  traces_.Put(t.id, {project, pk, t.user_id, ts});
  return new_traces_.Add(c_, {pk, IdValue(t.id), project, ts, Dim(t.name),
                              Dim(t.user_id), Dim(t.session_id), Dim(t.release), Dim(t.version),
                              Dim(t.environment), t.tags ? Value(TagsToJson(*t.tags)) : Value(),
                              Text(t.input), Text(t.output), Text(t.metadata),
                              t.is_public ? Value(int64_t{*t.is_public}) : Value()});
}

// New traces (the common case: one per gateway request) cost one insert; an existing one is
// merged in SQL (set fields win, as MergeTrace does) without reading the row into C++. `event`:
// the item's event id (not yet recorded), kept in the row when this inserts it.
bool BatchWriter::WriteTrace(const Trace& t, bool fresh, const std::string* event) {
  int64_t project = c_.Intern(t.project);
  if (fresh) return QueueFreshTrace(t, project);
  const int64_t ts = t.timestamp_us ? t.timestamp_us : now_;
  if (event && !EventFitsRow(ts)) {
    switch (RecordEvent(*event)) {
      case EventSeen::kFailed: return false;
      case EventSeen::kSeen: return true;
      case EventSeen::kNew: event = nullptr;
    }
  }
  if (!FlushPending() || !ExpandRequest(project, t.id)) return false;
  // ?1…?14 are the row; ?15 says whether the item set the timestamp (the update keeps the
  // stored one otherwise); ?16 is the event id kept in a new row.
  const std::array<Value, 16> v = {
      IdValue(t.id), project, ts, Dim(t.name), Dim(t.user_id),
      Dim(t.session_id), Dim(t.release), Dim(t.version), Dim(t.environment),
      t.tags ? Value(TagsToJson(*t.tags)) : Value(), Text(t.input), Text(t.output), Text(t.metadata),
      t.is_public ? Value(int64_t{*t.is_public}) : Value(), int64_t{t.timestamp_us != 0},
      event ? IdValue(*event) : Value()};
  {
    auto ins = c_.PrepareStatic(
        "INSERT INTO traces(" AP_TRACE_COLUMNS ",event) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?16) ON CONFLICT(project,id) DO NOTHING");
    ins.BindAll(std::span(v).first(14));
    ins.Bind(16, v[15]);
    if (ins.Step() != SQLITE_DONE) return false;
    if (sqlite3_changes(c_.db()) == 1) {
      traces_.Put(t.id, {project, sqlite3_last_insert_rowid(c_.db()), t.user_id, ts});
      return true;
    }
  }
  // The stored row's pk, user and time, before the update: a user set now for the first time is
  // inherited by the generations written before it (OTLP exports children before their root).
  int64_t pk = 0, old_user = 0, old_ts = 0;
  {
    auto sel = c_.PrepareStatic("SELECT pk, user, ts, event IS ?3 FROM traces WHERE project=?1 AND id=?2");
    sel.Bind(1, project);
    sel.Bind(2, v[0]);
    sel.Bind(3, v[15]);
    if (sel.Step() != SQLITE_ROW) return false;
    pk = sel.Int(0);
    old_user = sel.IsNull(1) ? 0 : sel.Int(1);
    old_ts = sel.Int(2);
    if (event && sel.Int(3)) return true;  // this event created the row: a re-send
  }
  if (event) {
    switch (RecordEvent(*event)) {
      case EventSeen::kFailed: return false;
      case EventSeen::kSeen: return true;
      case EventSeen::kNew: break;
    }
  }
  if (t.timestamp_us && DayOf(ts) < DayOf(old_ts) && !KeepTraceEvents(pk)) return false;
  auto upd = c_.PrepareStatic(
      "UPDATE traces SET ts=CASE WHEN ?15 THEN ?3 ELSE ts END, name=coalesce(?4,name), user=coalesce(?5,user), "
      "session=coalesce(?6,session), release=coalesce(?7,release), version=coalesce(?8,version), "
      "env=coalesce(?9,env), tags=coalesce(?10,tags), input=coalesce(?11,input), output=coalesce(?12,output), "
      "metadata=coalesce(?13,metadata), public=coalesce(?14,public) WHERE project=?2 AND id=?1");
  upd.BindAll(std::span(v).first(15));
  if (upd.Step() != SQLITE_DONE) return false;
  std::optional<std::string> user;
  if (old_user) {
    user = c_.Name(old_user);
  } else if (t.user_id) {
    user = t.user_id;
    if (!InheritUser(pk, project, std::get<int64_t>(v[4]))) return false;
  }
  traces_.Put(t.id, {project, pk, std::move(user), t.timestamp_us ? ts : old_ts});
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
    return traces_.Put(id, {project, found->first, std::move(found->second.user_id), found->second.timestamp_us});
  if (!ExpandRequest(project, id)) return nullptr;
  if (auto found = FindTrace(project, id))
    return traces_.Put(id, {project, found->first, std::move(found->second.user_id), found->second.timestamp_us});
  Trace t;
  t.id = id;
  t.timestamp_us = ts ? ts : now_;
  if (!WriteTraceRow(0, project, t)) return nullptr;
  return traces_.Find(project, id);
}

// A stored observation as an upsert reads it: the row, its trace's pk, and whether its row keeps
// an event id (`same_event`: the one asked about).
struct BatchWriter::StoredObservation {
  Observation o;
  int64_t pk = 0, trace_pk = 0;
  bool same_event = false, has_event = false;
  std::string updates;  // the ids of updates its row keeps (ForEachListed)
};

// The stored observation `id` (not a write-once one); nullopt when there is none. Its trace is
// known by pk only (a merge writes the pk the item names): `o.trace_id` stays empty.
std::optional<BatchWriter::StoredObservation> BatchWriter::FindObservation(int64_t project, const std::string& id,
                                                                           const Value& event) {
  static const std::string kSql = std::string("SELECT ") + kObservationColumns +
                                  ",NULL,o.trace,o.event IS ?3,o.event IS NOT NULL,o.events FROM observations o "
                                  "WHERE o.project=?1 AND o.id=?2 AND o.status IS NULL";
  auto s = c_.PrepareStatic(kSql.c_str());
  s.Bind(1, project);
  s.Bind(2, IdValue(id));
  s.Bind(3, event);
  if (s.Step() != SQLITE_ROW) return std::nullopt;
  StoredObservation found;
  found.o = ReadObservation(s, c_, &found.pk);
  found.trace_pk = s.Int(34);
  found.same_event = !std::holds_alternative<std::monostate>(event) && s.Int(35);
  found.has_event = s.Int(36) != 0;
  found.updates = s.Text(37);
  return found;
}

// An upsert (not fresh) is first tried as a new row: most are (an SDK's creates), and the
// INSERT's own uniqueness check on (project, id) finds a stored row as cheaply as a read would.
// Only when one is there is it read, merged and updated. An item without a start time is an
// update (an SDK's create always has one; its end() sends the end time alone), so it is read
// first instead: the INSERT would almost always meet the row. Observations carrying an HTTP
// status stay out of the unique index (migration 3), so they are always read first. `event`:
// the item's event id (not yet recorded; only on the insert-first path), kept in a new row.
bool BatchWriter::WriteObservation(const Observation& n, bool fresh, const std::string* event) {
  int64_t project = c_.Intern(n.project);
  const CachedTrace* trace = TraceFor(project, n.trace_id, n.start_us);
  if (!trace) return false;
  const int64_t trace_pk = trace->pk;
  const std::optional<std::string>* trace_user = &trace->user_id;
  const bool insert_first = !fresh && !n.status_code;
  if (event && !(insert_first && EventFitsRow(trace->ts))) {
    switch (RecordEvent(*event)) {
      case EventSeen::kFailed: return false;
      case EventSeen::kSeen: return true;
      case EventSeen::kNew: event = nullptr;
    }
  }
  const Value event_key = event ? IdValue(*event) : Value();
  std::optional<StoredObservation> stored;
  bool keep_update = false;  // the row keeps the item's event id among its updates' (stored->updates)
  if (!fresh) {
    if (!FlushPending()) return false;
    if (!insert_first) stored = FindObservation(project, n.id, event_key);
  }
  if (insert_first) {
    if (n.start_us) {
      switch (WriteObservationRow(project, trace_pk, *trace_user, n, nullptr, 0, /*new_only=*/true, event_key)) {
        case RowWrite::kFailed: return false;
        case RowWrite::kDone: return true;
        case RowWrite::kExists: break;
      }
    }
    stored = FindObservation(project, n.id, event_key);
    if (!stored) {
      if (n.start_us) return false;  // the INSERT met a row this cannot find
      switch (WriteObservationRow(project, trace_pk, *trace_user, n, nullptr, 0, /*new_only=*/true, event_key)) {
        case RowWrite::kFailed:
        case RowWrite::kExists: return false;
        case RowWrite::kDone: return true;
      }
    }
    if (event) {
      // Created or updated the row before: a re-send.
      if (stored->same_event || Listed(stored->updates, *event)) return true;
      // Kept in the row (which keeps its trace, so it lives as long as the create's id), else
      // in `events`.
      if (stored->trace_pk == trace_pk && !n.status_code && event->size() <= 255 &&
          ListedCount(stored->updates) < kEventsInRow) {
        stored->updates.push_back(static_cast<char>(event->size()));
        stored->updates += *event;
        keep_update = true;
      } else {
        switch (RecordEvent(*event)) {
          case EventSeen::kFailed: return false;
          case EventSeen::kSeen: return true;
          case EventSeen::kNew: break;
        }
      }
    }
  }
  if (!stored) return WriteObservationRow(project, trace_pk, *trace_user, n, nullptr, 0, false) == RowWrite::kDone;
  // Moving to another trace, the event id in its row would be deleted with that trace; with an
  // HTTP status, the row leaves the unique id index, so a re-sent create would not find it.
  if ((stored->has_event || !stored->updates.empty()) && (stored->trace_pk != trace_pk || n.status_code) &&
      !KeepObservationEvent(stored->pk))
    return false;
  AddRollup(project, stored->o, -1);
  MergeObservation(stored->o, n);
  const Value updates = keep_update ? Value(std::string_view(stored->updates)) : Value();
  return WriteObservationRow(project, trace_pk, *trace_user, n, &stored->o, stored->pk, false, updates,
                             stored->trace_pk == trace_pk && !n.status_code) == RowWrite::kDone;
}

// Writes observation `n` (or `merged`, its merge with the stored row `pk`, which keeps its event
// id) with its defaults filled in, priced, and counted in the rollups. `new_only`: only if no
// stored row has its id (kExists otherwise, nothing changed); the new row keeps `event`.
// `same_keys`: the stored row keeps its trace and (no) status, so the UPDATE leaves the columns
// the indexes are on alone and SQLite rewrites no index entry; then `event`, when set, is the
// row's new list of updates' ids.
BatchWriter::RowWrite BatchWriter::WriteObservationRow(int64_t project, int64_t trace_pk,
                                                      const std::optional<std::string>& trace_user,
                                                      const Observation& n, Observation* merged_in, int64_t pk,
                                                      bool new_only, const Value& event, bool same_keys) {
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
  if (pk && same_keys) {
    // v[3…30]: parent … backend (AP_OBSERVATION_COLUMNS without id, project, trace, status).
    auto s = c_.PrepareStatic(
        "UPDATE observations SET (parent,type,name,start,dur,ttft,model,level,status_message,version,env,"
        "model_params,input,output,metadata,in_tok,out_tok,total_tok,cached_tok,usage_details,cost_details,"
        "in_cost,out_cost,cost,user,team,key,backend)=(?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
        "?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29), events=coalesce(CAST(?30 AS BLOB),events) WHERE pk=?1");
    s.Bind(1, pk);
    s.BindAll(std::span(v).subspan(3, 28), 2, true);
    if (const auto* list = std::get_if<std::string_view>(&event))
      sqlite3_bind_blob(s.raw(), 30, list->data(), static_cast<int>(list->size()), SQLITE_STATIC);
    if (s.Step() != SQLITE_DONE) return RowWrite::kFailed;
    AddRollup(project, o, +1, dims);
    return RowWrite::kDone;
  }
  auto s = pk ? c_.PrepareStatic("UPDATE observations SET (" AP_OBSERVATION_COLUMNS
                                 ")=(?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,"
                                 "?24,?25,?26,?27,?28,?29,?30,?31,?32,?33) WHERE pk=?1")
      : new_only ? c_.PrepareStatic("INSERT INTO observations(" AP_OBSERVATION_COLUMNS
                                    ",event) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                                    " ON CONFLICT DO NOTHING")
                 : c_.PrepareStatic("INSERT INTO observations(" AP_OBSERVATION_COLUMNS
                                    ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  // The values live until Step() returns: bound in place.
  if (pk) {
    s.Bind(1, pk);
    s.BindAll(v, 2, true);
  } else {
    s.BindAll(v, 1, true);
    if (new_only) s.Bind(33, event, true);
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
