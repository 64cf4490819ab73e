#pragma once
// The enrolments the web page (/enrol) has running or just finished, by id: what each one's
// status page shows, and the app password it shows once. Pure (no clocks, no randomness, no
// I/O): the caller passes the time and a fresh random id, and reports what the device-code
// flow did (proxy/enrol_service.hpp runs it).
//
// Bounded: max_running enrolments wait for a code or a sign-in at a time, one per UPN; every
// id dies with its device code (a finished one is kept min_keep longer, for the page's next
// refresh); at most max_kept ids exist, the finished ones nearest their end dropped first.

#include "proxy/auth_store.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace icalgate::proxy {

struct EnrolLimits {
  std::size_t max_running = 32;
  std::size_t max_kept = 128;
  std::chrono::seconds min_keep{120};
  // Until the device code arrives; the identity client gives up well before.
  std::chrono::seconds code_request_timeout{90};
  // However long the identity platform says its code lives.
  std::chrono::seconds max_code_life{30 * 60};
};

enum class EnrolStage {
  requesting, // asking the identity platform for a code
  waiting,    // code shown, waiting for the user to sign in
  issued,     // signed in and stored: the app password waits to be shown
  shown,      // the app password was shown
  failed,     // nothing stored; `failure` says why
};

enum class EnrolFailure {
  none,
  unavailable,      // the identity platform could not be reached or refused the app
  declined,         // the user declined the sign-in
  expired,          // the code expired first
  mismatch,         // someone else signed in (or the answer did not say who)
  no_refresh_token, // offline_access was not granted: nothing to log in with later
  store,            // the login store failed
  stopped,          // the gateway stopped meanwhile
};

// What the status page shows.
struct EnrolView {
  EnrolStage stage = EnrolStage::requesting;
  std::string upn; // as entered
  std::string user_code;
  std::string verification_uri;
  std::string message;               // the identity platform's sentence for the user
  std::chrono::seconds expires_in{}; // the code's remaining life (waiting)
  EnrolFailure failure = EnrolFailure::none;
  std::string signed_in_as; // mismatch: who signed in ("" when the answer did not say)
  Secret password;          // issued, and only for the view that shows it
};

class EnrolRegistry {
 public:
  using Clock = std::chrono::steady_clock;
  using Time = Clock::time_point;

  enum class Refusal { none, busy, running_for_user, duplicate_id };

  explicit EnrolRegistry(EnrolLimits limits = {}) : limits_(limits) {}

  // Registers a new enrolment of `upn` under `id` (fresh and random, from the caller).
  Refusal start(std::string id, std::string_view upn, Time now);

  // The device code arrived. False when the enrolment is gone (expired): stop.
  bool code_issued(std::string_view id, std::string user_code, std::string verification_uri,
                   std::string message, Time code_expires_at, Time now);

  // Whether the enrolment still exists and waits for its sign-in: store nothing otherwise.
  bool waiting(std::string_view id, Time now) const;

  void issued(std::string_view id, Secret password, Time now);
  void failed(std::string_view id, EnrolFailure why, std::string signed_in_as, Time now);

  // The status of `id`; nullopt when unknown or expired. `consume`: an issued password is
  // handed over (in the view) and the enrolment becomes `shown`; without it (HEAD) the view
  // says `issued` and carries no password.
  std::optional<EnrolView> view(std::string_view id, Time now, bool consume);

  std::size_t size() const { return entries_.size(); }
  std::size_t running(Time now) const;

 private:
  struct Entry {
    std::string upn;
    std::string upn_key; // normalized, for the one-per-user rule
    EnrolStage stage = EnrolStage::requesting;
    std::string user_code;
    std::string verification_uri;
    std::string message;
    Time code_expires_at{};
    Time ends_at{}; // when the id is forgotten
    EnrolFailure failure = EnrolFailure::none;
    std::string signed_in_as;
    Secret password;
  };

  static bool is_running(const Entry& e, Time now);
  void finish(Entry& e, Time now);
  void expire(Time now);
  Entry* find(std::string_view id);

  EnrolLimits limits_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// What the web routes ask of the enrolments: proxy/enrol_service.hpp runs them for real.
class EnrolDesk {
 public:
  struct Started {
    EnrolRegistry::Refusal refusal = EnrolRegistry::Refusal::none;
    std::string id; // when started
  };
  virtual ~EnrolDesk() = default;
  // Starts the enrolment of `upn` (valid, in the delegated mode).
  virtual Started start(std::string_view upn) = 0;
  // EnrolRegistry::view at the current time.
  virtual std::optional<EnrolView> status(std::string_view id, bool consume) = 0;
};

} // namespace icalgate::proxy
