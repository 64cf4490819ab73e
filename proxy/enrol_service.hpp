#pragma once
// The web enrolment (/enrol) of a running gateway: for each address entered, Microsoft's
// device-code flow for the IMAP scope (calendar/identity_client.hpp), then — if the user who
// signed in is the one whose address was entered — the refresh token stored under a new app
// password (LoginBroker::enrol), which the status page shows once. The browser-side twin of
// `icalgate users enrol UPN` (proxy/cli_enrol.cpp).
//
// Runs on the gateway's io_context; the state lives in an EnrolRegistry (bounds, expiry,
// show-once). The log names the user and the outcome: never an id, a code, a token or a
// password.

#include "calendar/identity_client.hpp"
#include "proxy/enrol_registry.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <set>
#include <string>

namespace icalgate::proxy {

class LoginBroker;

class EnrolService final : public EnrolDesk, public std::enable_shared_from_this<EnrolService> {
 public:
  // `broker` must outlive every run of the io_context this executor belongs to.
  EnrolService(boost::asio::any_io_executor ex, LoginBroker& broker, EnrolLimits limits = {});

  Started start(std::string_view upn) override;
  std::optional<EnrolView> status(std::string_view id, bool consume) override;

  // Ends the waits of running enrolments (they store nothing more) and refuses new ones, so
  // that io.run() need not wait out their codes. Call it on the io_context's thread.
  void stop();

 private:
  static boost::asio::awaitable<void> run(std::shared_ptr<EnrolService> self, std::string id,
                                          std::string upn);
  // Polls until the sign-in is granted, declined or expired (expired also once stopped).
  boost::asio::awaitable<calendar::GraphResult<calendar::DeviceCodePoll>>
  wait_for_sign_in(const calendar::DeviceCodeGrant& grant);
  void fail(const std::string& id, const std::string& upn, EnrolFailure why,
            std::string signed_in_as = {});

  boost::asio::any_io_executor executor_;
  LoginBroker& broker_;
  EnrolRegistry registry_;
  bool stopped_ = false;
  std::set<boost::asio::steady_timer*> timers_; // the running waits, for stop()
};

} // namespace icalgate::proxy
