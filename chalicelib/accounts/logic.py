"""Account rules (pure): EIP-55 wallet addresses, username rules, the account view of the contract."""
import re
from decimal import Decimal

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@\-]{3,64}$")
USER_ID_RE = re.compile(r"^[A-Za-z0-9_.@\-]{1,128}$")  # a broker's own id for its client (v1 user_id, SSO user_id)
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
USERNAME_RULE = "username may contain letters, digits and _ . @ - (3 to 64 characters)"


def check_username(username: str) -> str:
    """The one username rule of every endpoint that creates an account (register, admin brokers, sub-brokers)."""
    if not USERNAME_RE.match(username):
        from chalicelib.common.errors import Rejected
        raise Rejected("VALIDATION_ERROR", USERNAME_RULE)
    return username


def _keccak_hex(data: bytes) -> str:
    # pycryptodome (already a web3 dependency), imported on first use: ~75 ms off the HTTP handler's cold start
    from Crypto.Hash import keccak
    h = keccak.new(digest_bits=256)
    h.update(data)
    return h.hexdigest()


def to_checksum_address(address: str) -> str:
    lower = address[2:].lower()
    digest = _keccak_hex(lower.encode())
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def validate_wallet(address) -> str:
    """Accept an EVM address that is all-lowercase, all-uppercase, or correctly EIP-55 checksummed;
    return the checksummed form. A mixed-case address with a wrong checksum is rejected."""
    if not isinstance(address, str) or not ADDRESS_RE.match(address):
        raise ValueError("walletAddress must be a 0x-prefixed 40-hex-digit EVM address")
    body = address[2:]
    checksummed = to_checksum_address(address)
    if body != body.lower() and body != body.upper() and address != checksummed:
        raise ValueError("walletAddress fails its EIP-55 checksum")
    return checksummed


def account_view(acct, unrealized_pnl: Decimal = Decimal(0)) -> dict:
    return {
        "userId": acct.user_id,
        "username": acct.username,
        "role": acct.role,
        "currency": "DCT",
        "balance": acct.balance,
        "availableBalance": acct.available_balance,
        "frozenMargin": acct.frozen_margin,
        "positionMargin": acct.position_margin,
        "unrealizedPnl": unrealized_pnl,
        "equity": acct.balance + unrealized_pnl,
        "walletAddress": acct.wallet_address,
        "parentBrokerId": acct.parent_broker_id,
        "brandRootId": acct.brand_root_id,
        "createdAt": acct.created_at,
    }


def user_view(acct) -> dict:
    return {"id": acct.user_id, "username": acct.username, "role": acct.role}
