#include "calendar/graph_event.hpp"

#include "calendar/json_reader.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <exception>
#include <initializer_list>
#include <utility>

namespace icalgate::calendar {

namespace json = boost::json;
using protocol::Errc;
using protocol::make_error;
using protocol::Result;
using namespace json_read;

namespace {

// The MAPI named property that carries an appointment's SEQUENCE (PidLidAppointmentSequence),
// as Graph names it in singleValueExtendedProperties.
constexpr std::string_view kSequenceProperty =
    "integer {00062002-0000-0000-c000-000000000046} id 0x8201";

std::optional<DateTimeTimeZone> date_time_time_zone(JsonContext& ctx, const json::object& o,
                                                    std::string_view key, const std::string& path) {
  const json::object* dt = object_at(ctx, o, key, path);
  if (dt == nullptr) {
    return std::nullopt;
  }
  const std::string p = join(path, key);
  auto when = date_time_at(ctx, *dt, "dateTime", p);
  if (!when) {
    ctx.fail(Errc::syntax, p + ".dateTime: missing");
    return std::nullopt;
  }
  return DateTimeTimeZone{*when, text(ctx, *dt, "timeZone", p)};
}

// A recipient: {"emailAddress": {"name": ..., "address": ...}}.
std::optional<EmailAddress> recipient(JsonContext& ctx, const json::object& o, std::string_view key,
                                      const std::string& path) {
  const json::object* r = object_at(ctx, o, key, path);
  if (r == nullptr) {
    return std::nullopt;
  }
  const std::string p = join(path, key);
  const json::object* e = object_at(ctx, *r, "emailAddress", p);
  if (e == nullptr) {
    return std::nullopt;
  }
  const std::string ep = join(p, "emailAddress");
  EmailAddress out{text(ctx, *e, "name", ep), text(ctx, *e, "address", ep)};
  if (out.name.empty() && out.address.empty()) {
    return std::nullopt;
  }
  return out;
}

const EnumTable<ResponseType> kResponses = {
    {"none", ResponseType::none},
    {"organizer", ResponseType::organizer},
    {"tentativelyAccepted", ResponseType::tentatively_accepted},
    {"accepted", ResponseType::accepted},
    {"declined", ResponseType::declined},
    {"notResponded", ResponseType::not_responded},
};

const EnumTable<DayOfWeek> kDays = {
    {"sunday", DayOfWeek::sunday},     {"monday", DayOfWeek::monday},
    {"tuesday", DayOfWeek::tuesday},   {"wednesday", DayOfWeek::wednesday},
    {"thursday", DayOfWeek::thursday}, {"friday", DayOfWeek::friday},
    {"saturday", DayOfWeek::saturday},
};

std::vector<Attendee> attendees(JsonContext& ctx, const json::object& o, const std::string& path) {
  std::vector<Attendee> out;
  const json::array* list = array_at(ctx, o, "attendees", path);
  if (list == nullptr) {
    return out;
  }
  const std::string p = join(path, "attendees");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string ip = index_path(p, i);
    if (!(*list)[i].is_object()) {
      ctx.fail(Errc::syntax, ip + ": expected an object");
      return out;
    }
    const json::object& a = (*list)[i].get_object();
    Attendee attendee;
    attendee.type = enumeration<AttendeeType>(ctx, a, "type", ip,
                                              {{"required", AttendeeType::required},
                                               {"optional", AttendeeType::optional},
                                               {"resource", AttendeeType::resource}},
                                              false)
                        .value_or(AttendeeType::required);
    if (const json::object* status = object_at(ctx, a, "status", ip)) {
      attendee.response =
          enumeration(ctx, *status, "response", join(ip, "status"), kResponses, false)
              .value_or(ResponseType::none);
    }
    if (const json::object* e = object_at(ctx, a, "emailAddress", ip)) {
      const std::string ep = join(ip, "emailAddress");
      attendee.email = {text(ctx, *e, "name", ep), text(ctx, *e, "address", ep)};
    }
    out.push_back(std::move(attendee));
  }
  return out;
}

std::optional<PatternedRecurrence> recurrence(JsonContext& ctx, const json::object& o,
                                              const std::string& path) {
  const json::object* r = object_at(ctx, o, "recurrence", path);
  if (r == nullptr) {
    return std::nullopt;
  }
  const std::string rp = join(path, "recurrence");
  const json::object* pattern = object_at(ctx, *r, "pattern", rp);
  const json::object* range = object_at(ctx, *r, "range", rp);
  if (pattern == nullptr || range == nullptr) {
    ctx.fail(Errc::syntax, rp + ": needs both pattern and range");
    return std::nullopt;
  }
  PatternedRecurrence out;
  const std::string pp = join(rp, "pattern");
  auto& pat = out.pattern;
  const auto type = enumeration<PatternType>(ctx, *pattern, "type", pp,
                                             {{"daily", PatternType::daily},
                                              {"weekly", PatternType::weekly},
                                              {"absoluteMonthly", PatternType::absolute_monthly},
                                              {"relativeMonthly", PatternType::relative_monthly},
                                              {"absoluteYearly", PatternType::absolute_yearly},
                                              {"relativeYearly", PatternType::relative_yearly}},
                                             true);
  if (!type) {
    ctx.fail(Errc::syntax, pp + ".type: missing");
    return std::nullopt;
  }
  pat.type = *type;
  pat.interval = integer(ctx, *pattern, "interval", pp, 0, 999).value_or(1);
  if (pat.interval == 0) {
    pat.interval = 1; // Graph writes 0 where the pattern has no interval of its own
  }
  pat.month = integer(ctx, *pattern, "month", pp, 0, 12).value_or(0);
  pat.day_of_month = integer(ctx, *pattern, "dayOfMonth", pp, 0, 31).value_or(0);
  if (const json::array* days = array_at(ctx, *pattern, "daysOfWeek", pp)) {
    for (std::size_t i = 0; i < days->size(); ++i) {
      const std::string ip = index_path(join(pp, "daysOfWeek"), i);
      if (!(*days)[i].is_string()) {
        ctx.fail(Errc::syntax, ip + ": expected a string");
        return std::nullopt;
      }
      const json::string& name = (*days)[i].get_string();
      const auto day = lookup(std::string_view(name.data(), name.size()), kDays);
      if (!day) {
        ctx.fail(Errc::syntax, ip + ": unknown day '" + std::string(name.subview(0, 20)) + "'");
        return std::nullopt;
      }
      if (std::find(pat.days_of_week.begin(), pat.days_of_week.end(), *day) ==
          pat.days_of_week.end()) {
        pat.days_of_week.push_back(*day);
      }
    }
  }
  pat.first_day_of_week =
      enumeration(ctx, *pattern, "firstDayOfWeek", pp, kDays, true).value_or(DayOfWeek::sunday);
  pat.index = enumeration<WeekIndex>(ctx, *pattern, "index", pp,
                                     {{"first", WeekIndex::first},
                                      {"second", WeekIndex::second},
                                      {"third", WeekIndex::third},
                                      {"fourth", WeekIndex::fourth},
                                      {"last", WeekIndex::last}},
                                     true)
                  .value_or(WeekIndex::first);

  const std::string ap = join(rp, "range");
  auto& rng = out.range;
  const auto range_type = enumeration<RangeType>(ctx, *range, "type", ap,
                                                 {{"endDate", RangeType::end_date},
                                                  {"noEnd", RangeType::no_end},
                                                  {"numbered", RangeType::numbered}},
                                                 true);
  if (!range_type) {
    ctx.fail(Errc::syntax, ap + ".type: missing");
    return std::nullopt;
  }
  rng.type = *range_type;
  rng.start_date = date_at(ctx, *range, "startDate", ap);
  rng.end_date = date_at(ctx, *range, "endDate", ap);
  rng.number_of_occurrences =
      integer(ctx, *range, "numberOfOccurrences", ap, 0, 999'999).value_or(0);
  rng.recurrence_time_zone = text(ctx, *range, "recurrenceTimeZone", ap);

  // What each pattern and range needs, so that the builder never has to guess.
  const bool needs_days = pat.type == PatternType::weekly ||
                          pat.type == PatternType::relative_monthly ||
                          pat.type == PatternType::relative_yearly;
  if (needs_days && pat.days_of_week.empty()) {
    ctx.fail(Errc::syntax, pp + ".daysOfWeek: required for this pattern type");
  }
  const bool needs_day_of_month =
      pat.type == PatternType::absolute_monthly || pat.type == PatternType::absolute_yearly;
  if (needs_day_of_month && pat.day_of_month == 0) {
    ctx.fail(Errc::syntax, pp + ".dayOfMonth: required for this pattern type");
  }
  const bool needs_month =
      pat.type == PatternType::absolute_yearly || pat.type == PatternType::relative_yearly;
  if (needs_month && pat.month == 0) {
    ctx.fail(Errc::syntax, pp + ".month: required for this pattern type");
  }
  if (rng.type == RangeType::end_date && !rng.end_date) {
    ctx.fail(Errc::syntax, ap + ".endDate: required for an endDate range");
  }
  if (rng.type == RangeType::numbered && rng.number_of_occurrences <= 0) {
    ctx.fail(Errc::syntax, ap + ".numberOfOccurrences: must be positive for a numbered range");
  }
  return out;
}

std::optional<int> extended_sequence(JsonContext& ctx, const json::object& o,
                                     const std::string& path) {
  const json::array* props = array_at(ctx, o, "singleValueExtendedProperties", path);
  if (props == nullptr) {
    return std::nullopt;
  }
  for (const json::value& v : *props) {
    if (!v.is_object()) {
      continue;
    }
    const json::value* id = member(v.get_object(), "id");
    const json::value* value = member(v.get_object(), "value");
    if (id == nullptr || value == nullptr || !id->is_string() || !value->is_string()) {
      continue;
    }
    const json::string& name = id->get_string();
    if (!lookup<int>(std::string_view(name.data(), name.size()), {{kSequenceProperty, 0}})) {
      continue;
    }
    const json::string& digits = value->get_string();
    if (digits.empty() || digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      ctx.fail(Errc::syntax, join(path, "singleValueExtendedProperties") +
                                 ": appointment sequence is not a number");
      return std::nullopt;
    }
    return std::stoi(std::string(digits.data(), digits.size()));
  }
  return std::nullopt;
}

void add_location(std::vector<std::string>& out, std::string name) {
  if (!name.empty() && std::find(out.begin(), out.end(), name) == out.end()) {
    out.push_back(std::move(name));
  }
}

GraphEvent event(JsonContext& ctx, const json::object& o, const std::string& path) {
  GraphEvent ev;
  ev.id = text(ctx, o, "id", path);
  ev.ical_uid = text(ctx, o, "iCalUId", path);
  ev.uid = text(ctx, o, "uid", path);
  ev.type = text(ctx, o, "type", path);
  ev.subject = text(ctx, o, "subject", path);
  if (const json::object* body = object_at(ctx, o, "body", path)) {
    const std::string bp = join(path, "body");
    ev.body.content_type = text(ctx, *body, "contentType", bp);
    ev.body.content = long_text(ctx, *body, "content", bp);
  }
  ev.body_preview = text(ctx, o, "bodyPreview", path);
  auto start = date_time_time_zone(ctx, o, "start", path);
  auto end = date_time_time_zone(ctx, o, "end", path);
  if (!start || !end) {
    ctx.fail(Errc::syntax, path + (path.empty() ? "" : ".") + "start/end: missing");
  } else {
    ev.start = std::move(*start);
    ev.end = std::move(*end);
  }
  ev.original_start = date_time_at(ctx, o, "originalStart", path);
  ev.original_start_time_zone = text(ctx, o, "originalStartTimeZone", path);
  ev.original_end_time_zone = text(ctx, o, "originalEndTimeZone", path);
  ev.is_all_day = boolean(ctx, o, "isAllDay", path);
  ev.is_cancelled = boolean(ctx, o, "isCancelled", path);
  ev.response_requested =
      member(o, "responseRequested") == nullptr || boolean(ctx, o, "responseRequested", path);
  ev.recurrence = recurrence(ctx, o, path);
  ev.organizer = recipient(ctx, o, "organizer", path);
  ev.attendees = attendees(ctx, o, path);
  if (const json::object* loc = object_at(ctx, o, "location", path)) {
    add_location(ev.locations, text(ctx, *loc, "displayName", join(path, "location")));
  }
  if (const json::array* locs = array_at(ctx, o, "locations", path)) {
    for (std::size_t i = 0; i < locs->size(); ++i) {
      if (!(*locs)[i].is_object()) {
        ctx.fail(Errc::syntax, index_path(join(path, "locations"), i) + ": expected an object");
        break;
      }
      add_location(ev.locations, text(ctx, (*locs)[i].get_object(), "displayName",
                                      index_path(join(path, "locations"), i)));
    }
  }
  if (const json::object* online = object_at(ctx, o, "onlineMeeting", path)) {
    ev.join_url = text(ctx, *online, "joinUrl", join(path, "onlineMeeting"));
  }
  if (ev.join_url.empty()) {
    ev.join_url = text(ctx, o, "onlineMeetingUrl", path);
  }
  ev.is_online_meeting = boolean(ctx, o, "isOnlineMeeting", path);
  ev.sensitivity = enumeration<Sensitivity>(ctx, o, "sensitivity", path,
                                            {{"normal", Sensitivity::normal},
                                             {"personal", Sensitivity::personal},
                                             {"private", Sensitivity::private_},
                                             {"confidential", Sensitivity::confidential}},
                                            false)
                       .value_or(Sensitivity::normal);
  ev.show_as = enumeration<ShowAs>(ctx, o, "showAs", path,
                                   {{"free", ShowAs::free},
                                    {"tentative", ShowAs::tentative},
                                    {"busy", ShowAs::busy},
                                    {"oof", ShowAs::oof},
                                    {"workingElsewhere", ShowAs::working_elsewhere},
                                    {"unknown", ShowAs::unknown}},
                                   false)
                   .value_or(ShowAs::busy);
  ev.importance =
      enumeration<Importance>(
          ctx, o, "importance", path,
          {{"low", Importance::low}, {"normal", Importance::normal}, {"high", Importance::high}},
          false)
          .value_or(Importance::normal);
  ev.reminder_minutes_before_start =
      integer(ctx, o, "reminderMinutesBeforeStart", path, -1, 1'000'000).value_or(0);
  ev.is_reminder_on = boolean(ctx, o, "isReminderOn", path);
  ev.sequence = integer(ctx, o, "sequence", path, 0, 1'000'000'000);
  if (!ev.sequence) {
    ev.sequence = extended_sequence(ctx, o, path);
  }
  return ev;
}

GraphEventMessage event_message(JsonContext& ctx, const json::object& o, const std::string& path) {
  GraphEventMessage m;
  m.odata_type = text(ctx, o, "@odata.type", path);
  m.id = text(ctx, o, "id", path);
  m.internet_message_id = text(ctx, o, "internetMessageId", path);
  m.subject = text(ctx, o, "subject", path);
  m.meeting_message_type =
      enumeration<MeetingMessageType>(
          ctx, o, "meetingMessageType", path,
          {{"meetingRequest", MeetingMessageType::request},
           {"meetingCancelled", MeetingMessageType::cancelled},
           {"meetingAccepted", MeetingMessageType::accepted},
           {"meetingTenativelyAccepted", MeetingMessageType::tentatively_accepted},
           // Accept the corrected spelling too, should Graph ever fix it.
           {"meetingTentativelyAccepted", MeetingMessageType::tentatively_accepted},
           {"meetingDeclined", MeetingMessageType::declined}},
          false)
          .value_or(MeetingMessageType::none);
  m.response_type =
      enumeration(ctx, o, "responseType", path, kResponses, false).value_or(ResponseType::none);
  m.from = recipient(ctx, o, "from", path);
  m.sender = recipient(ctx, o, "sender", path);
  m.sent_date_time = date_time_at(ctx, o, "sentDateTime", path);
  if (const json::object* ev = object_at(ctx, o, "event", path)) {
    m.event = event(ctx, *ev, join(path, "event"));
  }
  return m;
}

bool is_event_message(const json::object& o) {
  const json::value* type = member(o, "@odata.type");
  const bool typed = type != nullptr && type->is_string() &&
                     type->get_string().subview().find("eventMessage") != json::string_view::npos;
  return typed || member(o, "meetingMessageType") != nullptr;
}

Result<GraphEventMessage> parse_message_collection(std::string_view text,
                                                   const GraphLimits& limits) {
  auto root = parse_json(text, limits.max_bytes, limits.max_depth);
  if (!root) {
    return root.error();
  }
  if (!root->is_object()) {
    return make_error(Errc::syntax, "Graph response is not a JSON object");
  }
  JsonContext ctx{limits.max_string, limits.max_items, limits.max_bytes, std::nullopt};
  const json::array* entries = array_at(ctx, root->get_object(), "value", "");
  if (ctx.error) {
    return *ctx.error;
  }
  if (entries == nullptr) {
    return make_error(Errc::syntax, "Graph response has no 'value' collection");
  }
  for (std::size_t i = 0; i < entries->size(); ++i) {
    const json::value& entry = (*entries)[i];
    if (!entry.is_object()) {
      return make_error(Errc::syntax, index_path("value", i) + ": expected an object");
    }
    const json::object& o = entry.get_object();
    if (!is_event_message(o) || member(o, "event") == nullptr) {
      continue;
    }
    GraphEventMessage m = event_message(ctx, o, index_path("value", i));
    if (ctx.error) {
      return *ctx.error;
    }
    return m;
  }
  return make_error(Errc::not_found, "no event message with an expanded event in the response");
}

Result<GraphEvent> parse_bare_event(std::string_view text, const GraphLimits& limits) {
  auto root = parse_json(text, limits.max_bytes, limits.max_depth);
  if (!root) {
    return root.error();
  }
  if (!root->is_object()) {
    return make_error(Errc::syntax, "Graph event is not a JSON object");
  }
  JsonContext ctx{limits.max_string, limits.max_items, limits.max_bytes, std::nullopt};
  GraphEvent ev = event(ctx, root->get_object(), "");
  if (ctx.error) {
    return *ctx.error;
  }
  return ev;
}

} // namespace

bool is_response(MeetingMessageType type) {
  return type == MeetingMessageType::accepted || type == MeetingMessageType::tentatively_accepted ||
         type == MeetingMessageType::declined;
}

// Allocation failures are the only exceptions left (Boost.JSON is used through its
// error_code interface): they end here, as errors.
Result<GraphEventMessage> parse_event_message_response(std::string_view text,
                                                       const GraphLimits& limits) {
  try {
    return parse_message_collection(text, limits);
  } catch (const std::exception& e) {
    return make_error(Errc::too_many, std::string("Graph response not parsed: ") + e.what());
  }
}

Result<GraphEvent> parse_event(std::string_view text, const GraphLimits& limits) {
  try {
    return parse_bare_event(text, limits);
  } catch (const std::exception& e) {
    return make_error(Errc::too_many, std::string("Graph event not parsed: ") + e.what());
  }
}

MeetingMessageType effective_type(const GraphEventMessage& m) {
  if (m.meeting_message_type != MeetingMessageType::none) {
    return m.meeting_message_type;
  }
  switch (m.response_type) {
  case ResponseType::accepted:
    return MeetingMessageType::accepted;
  case ResponseType::tentatively_accepted:
    return MeetingMessageType::tentatively_accepted;
  case ResponseType::declined:
    return MeetingMessageType::declined;
  default:
    return MeetingMessageType::none;
  }
}

} // namespace icalgate::calendar
