# Install and packaging (tests/packaging): `cmake --install` + the systemd unit, the Debian
# package's install and removal (root only), and scripts/serve.sh installing its dependencies
# once. Each skips with 77 when what it needs is absent.
add_test(NAME packaging.install COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/install.sh ${PROJECT_BINARY_DIR})
add_test(NAME packaging.deb COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/deb.sh ${PROJECT_BINARY_DIR})
add_test(NAME packaging.deps COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/deps.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(packaging.install packaging.deb packaging.deps PROPERTIES
  TIMEOUT 120 SKIP_RETURN_CODE 77)
# dpkg holds one lock for the whole machine; the install test must not see a half-removed package.
set_tests_properties(packaging.deb packaging.install PROPERTIES RESOURCE_LOCK dpkg)
