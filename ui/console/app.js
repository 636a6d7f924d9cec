// Placeholder console script (the console's own files replace it).
document.getElementById('app').dataset.ready = 'true';
