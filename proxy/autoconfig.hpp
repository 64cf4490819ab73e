#pragma once
// Thunderbird autoconfig (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat)
// for the gateway: IMAP on the gateway's host names and listener ports, OAuth2 for
// passthrough accounts and a normal password (the gateway's own) otherwise. Thunderbird
// accepts a file only with a <domain>, an incoming and an outgoing server
// (accountcreation/readFromXML.sys.mjs), and takes OAuth2 for a server only if it knows a
// provider for its host name: for the gateway, the one the add-on registers.

#include "protocol/result.hpp"
#include "proxy/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::proxy {

// Exchange Online's SMTP submission: the gateway relays IMAP only, and Thunderbird knows the
// Microsoft OAuth2 provider for this host by itself.
inline constexpr std::string_view exchange_smtp_host = "smtp.office365.com";
inline constexpr std::uint16_t exchange_smtp_port = 587;

struct Autoconfig {
  std::string domain; // emailProvider id and its <domain>
  std::vector<std::string> hostnames;
  std::optional<std::uint16_t> imaps_port; // socketType SSL
  std::optional<std::uint16_t> imap_port;  // socketType STARTTLS
  bool oauth2 = true;                      // else password-cleartext
};

// The autoconfig for `email_address` (Thunderbird's ?emailaddress=, may be empty or junk):
// its domain and its account's mode when it is an address, else the tenant's domain (or the
// first host name) and the default mode. Fails without a host name.
protocol::Result<Autoconfig> autoconfig_for(const Config& config,
                                            const std::vector<std::string>& hostnames,
                                            std::string_view email_address);

std::string autoconfig_xml(const Autoconfig& autoconfig);

} // namespace icalgate::proxy
