#!/usr/bin/env bash
# Rebuild contracts/build/TestUSDC.{abi,bin} from TestUSDC.sol with the npm solc compiler (solcjs, pinned in
# package.json). The outputs are committed so that tests and `make run` need no compiler. Run: make contracts
set -euo pipefail
cd "$(dirname "$0")"
SOLCJS=../node_modules/.bin/solcjs
rm -rf build/tmp && mkdir -p build/tmp
"$SOLCJS" --optimize --bin --abi -o build/tmp TestUSDC.sol
for ext in abi bin; do
  mv "build/tmp/TestUSDC_sol_TestUSDC.$ext" "build/TestUSDC.$ext"
done
rm -rf build/tmp
"$SOLCJS" --version > build/SOLC_VERSION
echo "built contracts/build/TestUSDC.abi and TestUSDC.bin with solc $(cat build/SOLC_VERSION)"
