"""Where the simulated people connect from: office ranges, home lines, the VPN, CI runners,
hotels abroad and attackers' hosts, plus the browsers and clients they use.

Addresses are deterministic functions of small integers so the same seed gives the same IPs.
"""

from __future__ import annotations

# Office LANs per location (private ranges: what a proxy-less log platform sees in-house).
OFFICE_PREFIX: dict[str, str] = {
    "london": "10.10",
    "new-york": "10.20",
    "berlin": "10.30",
    "bangalore": "10.40",
    "san-francisco": "10.50",
    "sydney": "10.60",
    "tokyo": "10.70",
    "mexico-city": "10.80",
}
# Consumer ISP prefixes per country for home connections.
HOME_PREFIX: dict[str, tuple[str, ...]] = {
    "GB": ("81.2", "86.14", "92.40"),
    "US": ("73.162", "98.207", "24.5"),
    "DE": ("91.64", "84.143", "95.90"),
    "IN": ("49.36", "106.51", "122.171"),
    "PT": ("85.243", "89.153"),
    "PH": ("112.198", "49.145"),
    "AU": ("101.160", "110.20"),
    "JP": ("126.200", "180.12"),
    "MX": ("187.190", "189.203"),
    "ZA": ("105.224", "41.13"),
}
# The company VPN's egress addresses, shared by everyone on it.
VPN_IPS: tuple[str, ...] = tuple(f"172.16.0.{n}" for n in range(10, 16))
# CI runners and internal automation that use API keys.
CI_IPS: tuple[str, ...] = tuple(f"10.99.0.{n}" for n in range(20, 28))
# Hotels and conference networks abroad (benign travel): (country, city, prefix).
TRAVEL_NETWORKS: tuple[tuple[str, str, str], ...] = (
    ("FR", "Paris", "92.184"),
    ("JP", "Tokyo", "126.33"),
    ("ES", "Barcelona", "83.56"),
    ("SG", "Singapore", "116.87"),
    ("CA", "Toronto", "142.114"),
)
# Hosts nobody in the organisation uses (planted scenarios): (country, city, prefix).
UNKNOWN_NETWORKS: tuple[tuple[str, str, str], ...] = (
    ("RO", "Bucharest", "185.220"),
    ("NG", "Lagos", "102.89"),
    ("BR", "Sao Paulo", "177.71"),
    ("VN", "Hanoi", "113.160"),
    ("RU", "Moscow", "45.155"),
)

BROWSERS: tuple[str, ...] = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7; rv:133.0) Gecko/20100101 Firefox/133.0",
)
CLI_AGENTS: tuple[str, ...] = (
    "logtide-cli/2.4.1 (linux; amd64)",
    "logtide-cli/2.4.1 (darwin; arm64)",
)
API_AGENTS: tuple[str, ...] = ("python-requests/2.32.3", "Go-http-client/2.0", "curl/8.5.0")
# Devices nobody in the organisation uses (planted "new device").
UNKNOWN_DEVICES: tuple[str, ...] = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux i686; rv:115.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
)


def host(prefix: str, n: int) -> str:
    """An address in a /16 given as 'a.b', from a small integer (never .0 or .255)."""
    return f"{prefix}.{(n // 250) % 250 + 1}.{n % 250 + 2}"
