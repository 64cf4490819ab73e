#include "calendar/ical_builder.hpp"

#include "calendar/content_lines.hpp"
#include "calendar/event_times.hpp"
#include "calendar/libical_handle.hpp"
#include "calendar/recurrence_rule.hpp"
#include "calendar/timezone.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace icalgate::calendar {

using protocol::Errc;
using protocol::make_error;
using protocol::Result;

namespace {

constexpr std::size_t kMaxText = 256 * 1024; // DESCRIPTION and friends, in bytes

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// TEXT values: libical escapes commas, semicolons and newlines; CR and other controls would
// break the line structure or are not allowed at all (RFC 5545 §3.3.11).
std::string clean_text(std::string_view s) {
  std::string out;
  out.reserve(std::min(s.size(), kMaxText));
  for (std::size_t i = 0; i < s.size() && out.size() < kMaxText; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\r') {
      if (i + 1 < s.size() && s[i + 1] == '\n') {
        continue; // CRLF → LF; a lone CR becomes LF too
      }
      out.push_back('\n');
    } else if (c == '\n' || c == '\t' || !is_control(c)) {
      out.push_back(static_cast<char>(c));
    }
  }
  // Never cut a UTF-8 sequence in two at the size cap.
  while (!out.empty() && out.size() >= kMaxText &&
         (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) {
    out.pop_back();
  }
  if (!out.empty() && out.size() >= kMaxText && static_cast<unsigned char>(out.back()) >= 0xC0) {
    out.pop_back();
  }
  return out;
}

// Parameter values (CN) cannot hold DQUOTE or controls at all (RFC 5545 §3.1).
std::string clean_param(std::string_view s) {
  std::string out;
  for (char ch : s.substr(0, 256)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') {
      out.push_back('\'');
    } else if (!is_control(c)) {
      out.push_back(ch);
    }
  }
  return out;
}

// An address usable after "mailto:"; empty when it is not one.
std::string clean_address(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  if (s.empty() || s.size() > 320 || s.find('@') == std::string_view::npos) {
    return {};
  }
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_control(c) || c == ' ' || c == '"' || c == '<' || c == '>' || c == ',' || c == ';' ||
        c == ':' || c == '\\') {
      return {};
    }
  }
  return std::string(s);
}

// A URI we are willing to put in a property value as it is.
bool is_safe_url(std::string_view url) {
  if (url.size() > 4096 || !(url.starts_with("https://") || url.starts_with("http://"))) {
    return false;
  }
  return std::all_of(url.begin(), url.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7f && c != '"' && c != '<' && c != '>' && c != '\\' && c != '^' &&
           c != '`' && c != '{' && c != '|' && c != '}';
  });
}

bool in_range(const CivilDateTime& t) {
  return t.date.year >= 1 && t.date.year <= 9999 && t.date.month >= 1 && t.date.month <= 12 &&
         t.date.day >= 1 && t.date.day <= days_in_month(t.date.year, t.date.month) && t.hour >= 0 &&
         t.hour <= 23 && t.minute >= 0 && t.minute <= 59 && t.second >= 0 && t.second <= 60;
}

icaltimetype ical_date(const CivilDate& d) {
  icaltimetype out = icaltime_null_time();
  out.year = d.year;
  out.month = d.month;
  out.day = d.day;
  out.is_date = 1;
  return out;
}

// DTSTART / DTEND / RECURRENCE-ID: a DATE, a UTC date-time, or a local time with TZID.
icalproperty* timed(icalproperty* (*make)(icaltimetype), const CivilDateTime& local,
                    const ResolvedZone& zone, bool all_day) {
  if (all_day) {
    return make(ical_date(local.date));
  }
  icalproperty* p = make(to_icaltime(local, zone.utc ? icaltimezone_get_utc_timezone() : nullptr));
  if (!zone.utc) {
    icalproperty_add_parameter(p, icalparameter_new_tzid(zone.iana.c_str()));
  }
  return p;
}

icalparameter_partstat partstat_of(MeetingMessageType type, ResponseType response) {
  switch (type) {
  case MeetingMessageType::accepted:
    return ICAL_PARTSTAT_ACCEPTED;
  case MeetingMessageType::tentatively_accepted:
    return ICAL_PARTSTAT_TENTATIVE;
  case MeetingMessageType::declined:
    return ICAL_PARTSTAT_DECLINED;
  default:
    break;
  }
  switch (response) {
  case ResponseType::accepted:
    return ICAL_PARTSTAT_ACCEPTED;
  case ResponseType::tentatively_accepted:
    return ICAL_PARTSTAT_TENTATIVE;
  case ResponseType::declined:
    return ICAL_PARTSTAT_DECLINED;
  default:
    return ICAL_PARTSTAT_NEEDSACTION;
  }
}

struct AttendeeLine {
  std::string name;
  std::string address;
  AttendeeType type = AttendeeType::required;
  icalparameter_partstat partstat = ICAL_PARTSTAT_NEEDSACTION;
  bool rsvp = false;
};

icalproperty* attendee_property(const AttendeeLine& a) {
  icalproperty* p = icalproperty_new_attendee(("mailto:" + a.address).c_str());
  const std::string cn = clean_param(a.name);
  if (!cn.empty()) {
    icalproperty_add_parameter(p, icalparameter_new_cn(cn.c_str()));
  }
  if (a.type == AttendeeType::resource) {
    icalproperty_add_parameter(p, icalparameter_new_cutype(ICAL_CUTYPE_RESOURCE));
  }
  icalproperty_add_parameter(
      p, icalparameter_new_role(a.type == AttendeeType::required   ? ICAL_ROLE_REQPARTICIPANT
                                : a.type == AttendeeType::optional ? ICAL_ROLE_OPTPARTICIPANT
                                                                   : ICAL_ROLE_NONPARTICIPANT));
  icalproperty_add_parameter(p, icalparameter_new_partstat(a.partstat));
  if (a.rsvp) {
    icalproperty_add_parameter(p, icalparameter_new_rsvp(ICAL_RSVP_TRUE));
  }
  return p;
}

std::vector<AttendeeLine> attendee_lines(const GraphEventMessage& m, MeetingMessageType type,
                                         const IcalOptions& options) {
  std::vector<AttendeeLine> out;
  if (is_response(type)) {
    // A REPLY names only the responder (RFC 5546 §3.2.3), with the answer.
    std::optional<EmailAddress> who = options.responder ? options.responder
                                      : m.from          ? m.from
                                                        : m.sender;
    if (!who) {
      return out;
    }
    AttendeeLine line{who->name, clean_address(who->address), AttendeeType::required,
                      partstat_of(type, m.response_type), false};
    for (const Attendee& a : m.event.attendees) {
      if (clean_address(a.email.address) == line.address && !line.address.empty()) {
        line.type = a.type;
        if (line.name.empty()) {
          line.name = a.email.name;
        }
      }
    }
    if (!line.address.empty()) {
      out.push_back(std::move(line));
    }
    return out;
  }
  const bool rsvp = type == MeetingMessageType::request && m.event.response_requested;
  for (const Attendee& a : m.event.attendees) {
    AttendeeLine line{a.email.name, clean_address(a.email.address), a.type,
                      ICAL_PARTSTAT_NEEDSACTION, rsvp};
    if (!line.address.empty()) {
      out.push_back(std::move(line));
    }
  }
  return out;
}

std::string description_of(const GraphEventMessage& m, const IcalOptions& options) {
  if (options.description) {
    return clean_text(*options.description);
  }
  if (m.event.body.content_type == "text") {
    return clean_text(m.event.body.content);
  }
  return clean_text(m.event.body_preview);
}

void add_x(icalcomponent* c, const char* name, const std::string& value) {
  icalproperty* p = icalproperty_new_x(value.c_str());
  icalproperty_set_x_name(p, name);
  icalcomponent_add_property(c, p);
}

void add_busy_status(icalcomponent* ev, ShowAs show_as, MeetingMessageType type) {
  if (type == MeetingMessageType::cancelled) {
    icalcomponent_add_property(ev, icalproperty_new_transp(ICAL_TRANSP_TRANSPARENT));
    add_x(ev, "X-MICROSOFT-CDO-BUSYSTATUS", "FREE");
    return;
  }
  const char* status = nullptr;
  switch (show_as) {
  case ShowAs::free:
    status = "FREE";
    break;
  case ShowAs::tentative:
    status = "TENTATIVE";
    break;
  case ShowAs::busy:
    status = "BUSY";
    break;
  case ShowAs::oof:
    status = "OOF";
    break;
  case ShowAs::working_elsewhere:
    status = "WORKINGELSEWHERE";
    break;
  case ShowAs::unknown:
    break;
  }
  icalcomponent_add_property(ev, icalproperty_new_transp(show_as == ShowAs::free
                                                             ? ICAL_TRANSP_TRANSPARENT
                                                             : ICAL_TRANSP_OPAQUE));
  if (status != nullptr) {
    add_x(ev, "X-MICROSOFT-CDO-BUSYSTATUS", status);
  }
}

icalproperty_class class_of(Sensitivity s) {
  switch (s) {
  case Sensitivity::normal:
    return ICAL_CLASS_PUBLIC;
  case Sensitivity::personal:
  case Sensitivity::private_:
    return ICAL_CLASS_PRIVATE;
  case Sensitivity::confidential:
    return ICAL_CLASS_CONFIDENTIAL;
  }
  return ICAL_CLASS_PUBLIC;
}

int priority_of(Importance importance) {
  switch (importance) {
  case Importance::high:
    return 1;
  case Importance::normal:
    return 5;
  case Importance::low:
    return 9;
  }
  return 5;
}

void add_alarm(icalcomponent* ev, int minutes) {
  icalcomponent* alarm = icalcomponent_new_valarm();
  icalcomponent_add_property(alarm, icalproperty_new_action(ICAL_ACTION_DISPLAY));
  icalcomponent_add_property(alarm, icalproperty_new_description("Reminder"));
  icaltriggertype trigger;
  trigger.time = icaltime_null_time();
  trigger.duration = icaldurationtype_null_duration();
  trigger.duration.is_neg = 1;
  trigger.duration.minutes = static_cast<unsigned int>(minutes);
  icalproperty* p = icalproperty_new_trigger(trigger);
  icalproperty_add_parameter(p, icalparameter_new_related(ICAL_RELATED_START));
  icalcomponent_add_property(alarm, p);
  icalcomponent_add_component(ev, alarm);
}

void add_online_meeting(icalcomponent* ev, const std::string& url) {
  if (!is_safe_url(url)) {
    return;
  }
  add_x(ev, "X-MICROSOFT-SKYPETEAMSMEETINGURL", url);
  // RFC 7986 CONFERENCE with a multi-valued FEATURE, which libical's typed FEATURE
  // parameter cannot hold; the URL was checked to be safe to splice in.
  icalproperty* conf =
      icalproperty_new_from_string(("CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO:" + url).c_str());
  if (conf != nullptr) {
    icalcomponent_add_property(ev, conf);
  }
}

// libical quotes any parameter value holding a comma, which turns RFC 7986's list
// FEATURE=AUDIO,VIDEO into the single value "AUDIO,VIDEO". Done on the unfolded text.
void unquote_feature(std::string& text) {
  static constexpr std::string_view quoted = "\r\nCONFERENCE;VALUE=URI;FEATURE=\"AUDIO,VIDEO\":";
  static constexpr std::string_view plain = "\r\nCONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO:";
  if (const auto at = text.find(quoted); at != std::string::npos) {
    text.replace(at, quoted.size(), plain);
  }
}

Result<IcalComponent> make_event(const GraphEventMessage& m, MeetingMessageType type,
                                 const IcalOptions& options, const EventTimes& times,
                                 bool as_instance) {
  const GraphEvent& ev = m.event;
  IcalComponent vevent(icalcomponent_new_vevent());
  icalcomponent* e = vevent.get();

  // The UID as Graph gives it, never shortened: replies must carry it back unchanged.
  std::string uid = clean_text(as_instance ? ev.uid : ev.ical_uid);
  std::erase_if(uid, [](char c) { return c == '\n' || c == '\t'; });
  if (uid.empty()) {
    return make_error(Errc::unsupported, "event has no usable iCalUId");
  }
  icalcomponent_add_property(e, icalproperty_new_uid(uid.c_str()));
  if (times.recurrence_id_local) {
    icalcomponent_add_property(e, timed(icalproperty_new_recurrenceid, *times.recurrence_id_local,
                                        times.start_zone, times.all_day));
  }
  icalcomponent_add_property(
      e, icalproperty_new_sequence(options.sequence ? *options.sequence : ev.sequence.value_or(0)));
  icalcomponent_add_property(
      e, icalproperty_new_dtstamp(to_icaltime(options.dtstamp, icaltimezone_get_utc_timezone())));
  icalcomponent_add_property(
      e, timed(icalproperty_new_dtstart, times.start_local, times.start_zone, times.all_day));
  icalcomponent_add_property(
      e, timed(icalproperty_new_dtend, times.end_local, times.end_zone, times.all_day));
  if (ev.recurrence && !as_instance) {
    auto rule = make_rrule(*ev.recurrence, times.all_day, times.start_zone);
    if (!rule) {
      return rule.error();
    }
    icalcomponent_add_property(e, icalproperty_new_rrule(*rule));
  }

  const std::string summary = clean_text(ev.subject.empty() ? m.subject : ev.subject);
  icalcomponent_add_property(e, icalproperty_new_summary(summary.c_str()));
  std::string location;
  for (const std::string& name : ev.locations) {
    location += (location.empty() ? "" : "; ") + name;
  }
  location = clean_text(location);
  if (!location.empty()) {
    icalcomponent_add_property(e, icalproperty_new_location(location.c_str()));
  }
  const std::string description = description_of(m, options);
  if (!description.empty()) {
    icalcomponent_add_property(e, icalproperty_new_description(description.c_str()));
  }

  const std::optional<EmailAddress> organizer = ev.organizer ? ev.organizer : m.from;
  const std::string organizer_address = organizer ? clean_address(organizer->address) : "";
  if (organizer_address.empty()) {
    return make_error(Errc::unsupported, "event has no organizer address");
  }
  icalproperty* org = icalproperty_new_organizer(("mailto:" + organizer_address).c_str());
  if (const std::string cn = clean_param(organizer->name); !cn.empty()) {
    icalproperty_add_parameter(org, icalparameter_new_cn(cn.c_str()));
  }
  icalcomponent_add_property(e, org);
  const std::vector<AttendeeLine> attendees = attendee_lines(m, type, options);
  if (is_response(type) && attendees.empty()) {
    return make_error(Errc::unsupported, "reply without a responder address");
  }
  for (const AttendeeLine& a : attendees) {
    icalcomponent_add_property(e, attendee_property(a));
  }

  icalcomponent_add_property(e, icalproperty_new_class(class_of(ev.sensitivity)));
  icalcomponent_add_property(e, icalproperty_new_priority(priority_of(ev.importance)));
  add_busy_status(e, ev.show_as, type);
  if (type == MeetingMessageType::cancelled) {
    icalcomponent_add_property(e, icalproperty_new_status(ICAL_STATUS_CANCELLED));
  } else if (type == MeetingMessageType::request) {
    icalcomponent_add_property(e, icalproperty_new_status(ICAL_STATUS_CONFIRMED));
  }
  add_x(e, "X-MICROSOFT-CDO-ALLDAYEVENT", times.all_day ? "TRUE" : "FALSE");
  add_online_meeting(e, ev.join_url);
  if (type == MeetingMessageType::request && ev.is_reminder_on &&
      ev.reminder_minutes_before_start >= 0) {
    add_alarm(e, ev.reminder_minutes_before_start);
  }
  return vevent;
}

Result<std::string> build(const GraphEventMessage& m, const IcalOptions& options) {
  const MeetingMessageType type = effective_type(m);
  const std::string_view method = ical_method(type);
  if (method.empty()) {
    return make_error(Errc::unsupported, "not a meeting request, cancellation or response");
  }
  if (m.event.ical_uid.empty()) {
    return make_error(Errc::unsupported, "event has no iCalUId");
  }
  if (!in_range(options.dtstamp)) {
    return make_error(Errc::syntax, "DTSTAMP out of range");
  }
  // An occurrence or exception of a series is written as that instance of the series: the
  // series UID with RECURRENCE-ID, which is how clients file it under the series they have.
  const bool as_instance = (m.event.type == "occurrence" || m.event.type == "exception") &&
                           !m.event.uid.empty() && m.event.original_start.has_value();
  auto times = event_times(m.event, as_instance);
  if (!times) {
    return times.error();
  }

  IcalComponent calendar(icalcomponent_new_vcalendar());
  icalcomponent* cal = calendar.get();
  icalcomponent_add_property(cal, icalproperty_new_prodid(std::string(kProductId).c_str()));
  icalcomponent_add_property(cal, icalproperty_new_version("2.0"));
  icalcomponent_add_property(
      cal, icalproperty_new_method(type == MeetingMessageType::request     ? ICAL_METHOD_REQUEST
                                   : type == MeetingMessageType::cancelled ? ICAL_METHOD_CANCEL
                                                                           : ICAL_METHOD_REPLY));
  if (!times->all_day) {
    std::vector<std::string> written;
    for (const ResolvedZone* zone : {&times->start_zone, &times->end_zone}) {
      if (zone->utc || std::find(written.begin(), written.end(), zone->iana) != written.end()) {
        continue;
      }
      auto vtz = make_vtimezone(*zone, times->zone_from_utc, times->zone_until_utc);
      if (!vtz) {
        return vtz.error();
      }
      icalcomponent_add_component(cal, vtz->release());
      written.push_back(zone->iana);
    }
  }
  auto vevent = make_event(m, type, options, *times, as_instance);
  if (!vevent) {
    return vevent.error();
  }
  icalcomponent_add_component(cal, vevent->release());
  std::string text = unfold_content_lines(ical_text(cal));
  if (text.empty()) {
    return make_error(Errc::unsupported, "libical produced no text");
  }
  unquote_feature(text);
  return fold_content_lines(text);
}

} // namespace

std::string_view ical_method(MeetingMessageType type) {
  switch (type) {
  case MeetingMessageType::request:
    return "REQUEST";
  case MeetingMessageType::cancelled:
    return "CANCEL";
  case MeetingMessageType::accepted:
  case MeetingMessageType::tentatively_accepted:
  case MeetingMessageType::declined:
    return "REPLY";
  case MeetingMessageType::none:
    break;
  }
  return {};
}

Result<std::string> build_icalendar(const GraphEventMessage& message, const IcalOptions& options) {
  try {
    return build(message, options);
  } catch (const std::exception& e) {
    // Allocation failures only; libical itself is C.
    return make_error(Errc::too_many, std::string("iCalendar not built: ") + e.what());
  }
}

} // namespace icalgate::calendar
