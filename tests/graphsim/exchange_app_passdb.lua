-- Exchange Online's app-only IMAP login for the test Dovecot: a Lua passdb (Debian package
-- dovecot-auth-lua, Lua 5.4) that accepts XOAUTH2 / OAUTHBEARER with a client-credentials
-- token of icalgate-graphsim when
--   * the JWT is HS256 and its signature checks out with the shared key,
--   * it has not expired (exp, with nbf/iat not in the future),
--   * its audience is Exchange Online and it carries roles: ["IMAP.AccessAsApp"] and no
--     user (an app token: no scp, no upn),
--   * its appid was granted the mailbox named by the login's user= (case-insensitive),
-- which is what Exchange checks once an admin has registered the service principal
-- (New-ServicePrincipal) and granted it the mailbox (Add-MailboxPermission).
-- Dovecot's oauth2 passdb cannot say this: it insists that the token names the login user.
--
-- Files beside this script (env.py copies it into the upstream's oauth2 directory):
--   keys/default/HS256/default  the HS256 key, base64 (the oauth2 passdb's key file)
--   app-grants                  one grant a line: "<appid> <mailbox>" ("#" comments)
-- Both are read on every login, so a test may change the grants while Dovecot runs.
--
-- Lua has no HMAC; SHA-256 and HMAC are written out below (FIPS 180-4, RFC 2104) so that
-- the passdb needs nothing beyond the one Debian package.
--
-- Results: a delegated token (it names a user: scp, upn, email or unique_name) or anything
-- that is not a JWT is none of this passdb's business: NEXT, and the oauth2 passdb after it
-- decides. An app token is decided here: OK, or PASSWORD_MISMATCH with the reason logged
-- (never the token); the passdb runs with result_failure = return-fail, because the oauth2
-- passdb would answer a token without a user with an internal failure ("No username
-- returned"), which clients see as a temporary error. Run it with blocking=no: NEXT does
-- not survive the trip back from an auth worker.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local KEY_FILE = here .. "keys/default/HS256/default"
local GRANTS_FILE = here .. "app-grants"
local AUDIENCES = {
  ["https://outlook.office365.com"] = true,
  ["https://outlook.office.com"] = true,
  ["00000002-0000-0ff1-ce00-000000000000"] = true, -- Exchange Online's app id
}
local SKEW = 30 -- seconds of clock skew tolerated for nbf / iat

-- SHA-256 ------------------------------------------------------------------------------
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
  0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
  0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
  0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
  0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
  0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
  0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
}
local M32 = 0xffffffff

local function rotr(x, n)
  return ((x >> n) | (x << (32 - n))) & M32
end

local function sha256(msg)
  local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
              0x1f83d9ab, 0x5be0cd19 }
  local len = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64) .. string.pack(">I8", len * 8)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      w[i] = string.unpack(">I4", msg, chunk + i * 4)
    end
    for i = 16, 63 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = rotr(x, 7) ~ rotr(x, 18) ~ (x >> 3)
      local s1 = rotr(y, 17) ~ rotr(y, 19) ~ (y >> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M32
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local s1 = rotr(e, 6) ~ rotr(e, 11) ~ rotr(e, 25)
      local ch = (e & f) ~ ((~e) & g)
      local t1 = (hh + s1 + ch + K[i + 1] + w[i]) & M32
      local s0 = rotr(a, 2) ~ rotr(a, 13) ~ rotr(a, 22)
      local maj = (a & b) ~ (a & c) ~ (b & c)
      local t2 = (s0 + maj) & M32
      hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & M32, c, b, a, (t1 + t2) & M32
    end
    h[1], h[2], h[3], h[4] = (h[1] + a) & M32, (h[2] + b) & M32, (h[3] + c) & M32, (h[4] + d) & M32
    h[5], h[6], h[7], h[8] = (h[5] + e) & M32, (h[6] + f) & M32, (h[7] + g) & M32, (h[8] + hh) & M32
  end
  return string.pack(">I4I4I4I4I4I4I4I4", table.unpack(h))
end

local function hmac_sha256(key, msg)
  if #key > 64 then
    key = sha256(key)
  end
  key = key .. string.rep("\0", 64 - #key)
  local inner = key:gsub(".", function(c) return string.char(c:byte() ~ 0x36) end)
  local outer = key:gsub(".", function(c) return string.char(c:byte() ~ 0x5c) end)
  return sha256(outer .. sha256(inner .. msg))
end

-- base64 (standard and URL-safe alphabets, padding optional) ------------------------------
local B64 = {}
do
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  for i = 1, #alphabet do
    B64[alphabet:byte(i)] = i - 1
  end
  B64[("+"):byte()], B64[("/"):byte()] = 62, 63
  B64[("-"):byte()], B64[("_"):byte()] = 62, 63
end

local function base64_decode(text)
  text = text:gsub("=+$", "")
  local out, bits, nbits = {}, 0, 0
  for i = 1, #text do
    local v = B64[text:byte(i)]
    if v == nil then
      return nil
    end
    bits, nbits = (bits << 6) | v, nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      out[#out + 1] = string.char((bits >> nbits) & 0xff)
    end
  end
  if nbits >= 6 then
    return nil -- one stray character: not base64
  end
  return table.concat(out)
end

-- JSON: just enough for JWT headers and claims (objects, arrays, strings, numbers, literals)
local decode_value

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
                  r = "\r", t = "\t" }

local function decode_string(s, i) -- s:sub(i, i) == '"'
  local out = {}
  i = i + 1
  while true do
    local c = s:sub(i, i)
    if c == "" or c:byte() < 0x20 then
      return nil
    elseif c == '"' then
      return table.concat(out), i + 1
    elseif c == "\\" then
      local e = s:sub(i + 1, i + 1)
      if e == "u" then
        local code = tonumber(s:sub(i + 2, i + 5):match("^%x%x%x%x$") or "", 16)
        if code == nil then
          return nil
        end
        i = i + 6
        if code >= 0xD800 and code <= 0xDBFF then
          local low = tonumber(s:sub(i, i + 5):match("^\\u(%x%x%x%x)$") or "", 16)
          if low == nil or low < 0xDC00 or low > 0xDFFF then
            return nil
          end
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          i = i + 6
        end
        out[#out + 1] = utf8.char(code)
      elseif ESCAPES[e] then
        out[#out + 1] = ESCAPES[e]
        i = i + 2
      else
        return nil
      end
    else
      local j = s:find('["\\%c]', i) or #s + 1
      out[#out + 1] = s:sub(i, j - 1)
      i = j
    end
  end
end

function decode_value(s, i, depth)
  if depth > 32 then
    return nil
  end
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then
      return obj, i + 1
    end
    while true do
      if s:sub(i, i) ~= '"' then
        return nil
      end
      local key
      key, i = decode_string(s, i)
      if key == nil then
        return nil
      end
      i = skip(s, i)
      if s:sub(i, i) ~= ":" then
        return nil
      end
      local value
      value, i = decode_value(s, i + 1, depth + 1)
      if i == nil then
        return nil
      end
      obj[key] = value
      i = skip(s, i)
      local sep = s:sub(i, i)
      if sep == "}" then
        return obj, i + 1
      elseif sep ~= "," then
        return nil
      end
      i = skip(s, i + 1)
    end
  elseif c == "[" then
    local arr = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then
      return arr, i + 1
    end
    while true do
      local value
      value, i = decode_value(s, i, depth + 1)
      if i == nil then
        return nil
      end
      arr[#arr + 1] = value
      i = skip(s, i)
      local sep = s:sub(i, i)
      if sep == "]" then
        return arr, i + 1
      elseif sep ~= "," then
        return nil
      end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return false, i + 4 -- a null claim counts as absent
  else
    local number = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if number == nil or tonumber(number) == nil then
      return nil
    end
    return tonumber(number), i + #number
  end
end

local function decode_json(text)
  if text == nil then
    return nil
  end
  local value, i = decode_value(text, 1, 0)
  if i == nil or skip(text, i) ~= #text + 1 or type(value) ~= "table" then
    return nil
  end
  return value
end

-- The passdb ---------------------------------------------------------------------------
local function read_file(path)
  local f = io.open(path, "rb")
  if f == nil then
    return nil
  end
  local data = f:read("a")
  f:close()
  return data
end

local function granted(appid, mailbox)
  local grants = read_file(GRANTS_FILE)
  if grants == nil then
    return false
  end
  mailbox = mailbox:lower()
  for line in grants:gmatch("[^\n]+") do
    local app, box = line:match("^%s*([^%s#]+)%s+([^%s#]+)")
    if app ~= nil and app:lower() == appid:lower() and box:lower() == mailbox then
      return true
    end
  end
  return false
end

local function has_role(roles, wanted)
  if type(roles) ~= "table" then
    return false
  end
  for _, role in ipairs(roles) do
    if role == wanted then
      return true
    end
  end
  return false
end

local function is_delegated(claims)
  return claims.scp or claims.upn or claims.email or claims.unique_name
end

-- nil, "next" when the token is not an app token, or why this app token is refused.
local function check(user, token)
  local header64, claims64, signature64 = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
  if header64 == nil then
    return "next"
  end
  local header = decode_json(base64_decode(header64))
  local claims = decode_json(base64_decode(claims64))
  if header == nil or claims == nil then
    return "next"
  end
  if is_delegated(claims) then
    return "next"
  end
  if header.alg ~= "HS256" then
    return "not an HS256 JWT"
  end
  local key64 = read_file(KEY_FILE)
  local key = key64 and base64_decode((key64:gsub("%s", "")))
  if key == nil or key == "" then
    return "no signing key at " .. KEY_FILE
  end
  local expected = hmac_sha256(key, header64 .. "." .. claims64)
  local got = base64_decode(signature64)
  if got == nil or #got ~= #expected then
    return "bad signature"
  end
  local diff = 0
  for i = 1, #expected do
    diff = diff | (expected:byte(i) ~ got:byte(i))
  end
  if diff ~= 0 then
    return "bad signature"
  end
  local now = os.time()
  if type(claims.exp) ~= "number" or claims.exp <= now then
    return "expired"
  end
  for _, name in ipairs({ "nbf", "iat" }) do
    local t = claims[name]
    if t and (type(t) ~= "number" or t > now + SKEW) then
      return "not valid yet"
    end
  end
  if not AUDIENCES[claims.aud] then
    return "audience is not Exchange Online"
  end
  if not has_role(claims.roles, "IMAP.AccessAsApp") then
    return "no IMAP.AccessAsApp role"
  end
  local appid = claims.appid or claims.azp
  if type(appid) ~= "string" or appid == "" then
    return "no appid"
  end
  if not granted(appid, user) then
    return "app " .. appid .. " has no grant for mailbox " .. user
  end
  return nil
end

function auth_password_verify(req, pass)
  local ok, why = pcall(check, req.user, pass)
  if not ok then
    why = "malformed token"
  end
  if why == "next" then
    return dovecot.auth.PASSDB_RESULT_NEXT, {}
  elseif why ~= nil then
    req:log_warning("app token refused: " .. why)
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, {}
  end
  return dovecot.auth.PASSDB_RESULT_OK, {}
end

function auth_passdb_lookup(req)
  -- Only password verification makes sense for bearer tokens.
  return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, {}
end
