// Placeholder: the console page replaces this file.
'use strict';
document.getElementById('app').textContent = 'intacct-sync console';
