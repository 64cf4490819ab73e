#include "tests/graphsim/sim_jwt.hpp"

#include <boost/json/serialize.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>

namespace icalgate::graphsim {

std::string base64url(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += {alphabet[n >> 18], alphabet[n >> 12 & 63], alphabet[n >> 6 & 63], alphabet[n & 63]};
  }
  if (bytes.size() - i == 1) {
    const std::uint32_t n = byte(i) << 16;
    out += {alphabet[n >> 18], alphabet[n >> 12 & 63]};
  } else if (bytes.size() - i == 2) {
    const std::uint32_t n = byte(i) << 16 | byte(i + 1) << 8;
    out += {alphabet[n >> 18], alphabet[n >> 12 & 63], alphabet[n >> 6 & 63]};
  }
  return out;
}

std::string sign_hs256(const boost::json::object& claims, std::string_view key) {
  const std::string input =
      base64url(R"({"typ":"JWT","alg":"HS256"})") + "." + base64url(boost::json::serialize(claims));
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &length);
  return input + "." +
         base64url(std::string_view(reinterpret_cast<const char*>(mac.data()), length));
}

std::string guid_for(std::string_view seed) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(seed.data(), seed.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out.push_back('-');
    }
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

} // namespace icalgate::graphsim
